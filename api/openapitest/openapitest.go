// Package openapitest holds the API's OpenAPI document to what the server
// does: tests of package api and the end-to-end tests pass every request
// and answer through CheckExchange. libopenapi-validator does the checking:
// it implements OpenAPI 3.1 and JSON Schema 2020-12 (type arrays for null,
// const, anyOf), and its strict mode reports fields an answer has that the
// document does not name, so a field added to the server without its entry
// fails.
package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	"github.com/pb33f/libopenapi/datamodel/high/base"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/loki-interceptor/herald/api"
)

type docChecker struct {
	model *v3.Document
	// strict checks answers: an undocumented field fails too.
	strict validator.Validator
	// lenient checks requests the server accepted, and answers whose body
	// is free-form JSON as a whole (the document itself, a JSON Schema).
	lenient     validator.Validator
	schemas     schema_validation.SchemaValidator
	errorSchema *base.Schema
}

// freeForm are the fields whose content is the caller's or a receiver's
// JSON, not Herald's shape: strict mode checks none of their keys.
var freeForm = []string{"metadata", "custom_headers", "filter", "retry_overrides", "payload", "event_data",
	"request_body", "request_headers", "response_headers", "example", "event_recipients", "by_event_type", "by_type"}

// freeFormAnswers are the operations whose whole answer is free-form JSON.
var freeFormAnswers = regexp.MustCompile(`^/api/v1/(openapi\.json|event-types/[^/]+/schema)$`)

// securityHeaders go on every answer (api's securityHeaders middleware);
// documenting them on each of the document's responses would say nothing.
var securityHeaders = []string{"x-content-type-options", "x-frame-options", "content-security-policy",
	"referrer-policy", "strict-transport-security"}

var loadChecker = sync.OnceValues(func() (*docChecker, error) {
	doc, err := libopenapi.NewDocument(api.OpenAPIYAML)
	if err != nil {
		return nil, err
	}
	m, err := doc.BuildV3Model()
	if err != nil {
		return nil, err
	}
	ignore := []string{"$.body.integrations.*"} // health and metrics: by integration name
	for _, f := range freeForm {
		// Whole segments only: "filter" must not also cover filtered_events.
		ignore = append(ignore, "$.body**."+f+".**", "$.body**."+f+"[**")
	}
	common := []config.Option{config.WithFormatAssertions(), config.WithoutSecurityValidation()}
	c := &docChecker{
		model: &m.Model,
		strict: validator.NewValidatorFromV3Model(&m.Model, append(common, config.WithStrictMode(),
			config.WithStrictIgnorePaths(ignore...), config.WithStrictIgnoredHeadersExtra(securityHeaders...))...),
		lenient: validator.NewValidatorFromV3Model(&m.Model, common...),
		schemas: schema_validation.NewSchemaValidator(config.WithFormatAssertions()),
	}
	if s := m.Model.Components.Schemas.GetOrZero("Error"); s != nil {
		c.errorSchema = s.Schema()
	}
	if c.errorSchema == nil {
		return nil, fmt.Errorf("the document has no Error schema")
	}
	return c, nil
})

// CheckExchange fails t unless the answer to req fits the document: its
// status documented for the operation, its content type, its body. A
// request the server accepted (2xx) must fit the document too, or the
// document refuses what the server takes.
func CheckExchange(t testing.TB, req *http.Request, reqBody string, resp *http.Response, respBody []byte) {
	t.Helper()
	c, err := loadChecker()
	if err != nil {
		t.Errorf("openapi.yaml cannot be loaded: %v", err)
		return
	}
	vreq := routed(req, reqBody)
	if !strings.HasPrefix(vreq.URL.Path, "/api/v1/") {
		return // /healthz, /readyz: probes, outside the API and its document
	}
	vresp := &http.Response{StatusCode: resp.StatusCode, Header: resp.Header, Request: vreq,
		Body: io.NopCloser(bytes.NewReader(respBody))}
	if resp.StatusCode == http.StatusRequestHeaderFieldsTooLarge {
		c.checkHeadTooLarge(t, req, respBody)
		return
	}
	v := c.strict
	if freeFormAnswers.MatchString(vreq.URL.Path) {
		v = c.lenient
	}
	ok, errs := v.ValidateHttpResponse(vreq, vresp)
	if !ok && ambiguous(errs) {
		c.checkAmbiguous(t, req, resp.StatusCode, respBody)
		return
	}
	if !ok && unrouted(errs) {
		c.checkUnrouted(t, req, resp.StatusCode, respBody)
		return
	}
	if !ok {
		t.Errorf("openapi.yaml does not describe the answer to %s %s (%d):%s\nbody: %s",
			req.Method, req.URL.RequestURI(), resp.StatusCode, Describe(errs), clip(respBody))
		return
	}
	if resp.StatusCode < 300 {
		if ok, errs := c.lenient.ValidateHttpRequestSync(withoutEmptyQuery(routed(req, reqBody))); !ok {
			t.Errorf("openapi.yaml refuses a request the server accepted, %s %s:%s\nbody: %s",
				req.Method, req.URL.RequestURI(), Describe(errs), clip([]byte(reqBody)))
		}
	}
}

// routed is req as the document's paths name it: the server's routing is
// not strict, so /api/v1/webhooks/ is /api/v1/webhooks.
func routed(req *http.Request, body string) *http.Request {
	r := req.Clone(req.Context())
	r.Body = io.NopCloser(strings.NewReader(body))
	if p := r.URL.Path; len(p) > len("/api/v1/") && strings.HasSuffix(p, "/") {
		r.URL.Path = strings.TrimSuffix(p, "/")
	}
	// Escaped as Go escapes it: the server unescapes paths, so /%61pi-keys
	// is /api-keys.
	r.URL.RawPath = ""
	return r
}

// withoutEmptyQuery leaves out the query parameters given with no value.
// The server reads one as left out, and the document says so in prose:
// OpenAPI 3.1 has no way to say it of a typed parameter but the deprecated
// allowEmptyValue, which the validator does not implement.
func withoutEmptyQuery(r *http.Request) *http.Request {
	pairs := strings.Split(r.URL.RawQuery, "&")
	r.URL.RawQuery = strings.Join(slices.DeleteFunc(pairs, func(p string) bool {
		_, value, _ := strings.Cut(p, "=")
		return value == ""
	}), "&")
	return r
}

// unrouted says the request named no operation of the document.
func unrouted(errs []*liberrors.ValidationError) bool {
	for _, e := range errs {
		if e.ValidationType == helpers.PathValidation &&
			(e.ValidationSubType == helpers.ValidationMissing || e.ValidationSubType == helpers.ValidationMissingOperation) {
			return true
		}
	}
	return false
}

// ambiguous says the path names another operation once its dot or empty
// segments or escapes are normalized (/subscribe/.., //deliveries//retry).
func ambiguous(errs []*liberrors.ValidationError) bool {
	return slices.ContainsFunc(errs, func(e *liberrors.ValidationError) bool {
		return e.ValidationSubType == helpers.ValidationAmbiguousPath
	})
}

// checkAmbiguous checks the answer to an ambiguous path. The server routes
// paths as sent, so the answer is not one operation's to check: the server
// must have refused it (a proxy that normalizes paths would have sent it
// elsewhere), in the one error shape.
func (c *docChecker) checkAmbiguous(t testing.TB, req *http.Request, status int, body []byte) {
	t.Helper()
	if status < 400 || status >= 500 {
		t.Errorf("the server answered %d to the ambiguous path %s %s: it must refuse it", status, req.Method, req.URL.EscapedPath())
		return
	}
	if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(c.errorSchema, body, 3.1); !ok {
		t.Errorf("the answer to %s %s (%d) is not the Error shape:%s\nbody: %s",
			req.Method, req.URL.EscapedPath(), status, Describe(errs), clip(body))
	}
}

// checkUnrouted checks the answer to a route the server does not have. The
// key and its scope are checked first (401, 403, 429: authentication runs
// for every path under /api/v1, and decides scopes on the path alone),
// then 404 or 405; always in the one error shape.
func (c *docChecker) checkUnrouted(t testing.TB, req *http.Request, status int, body []byte) {
	t.Helper()
	if !slices.Contains([]int{401, 403, 404, 405, 429}, status) {
		t.Errorf("openapi.yaml has no %s %s, yet the server answered %d: a route without its entry?",
			req.Method, req.URL.Path, status)
		return
	}
	if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(c.errorSchema, body, 3.1); !ok {
		t.Errorf("the answer to %s %s (%d) is not the Error shape:%s\nbody: %s",
			req.Method, req.URL.Path, status, Describe(errs), clip(body))
	}
}

// checkHeadTooLarge checks a 431. The server refuses a request head over
// its read buffer before it routes it (api.New's ReadBufferSize), so any
// path can get one, documented or not; the document says so once, in its
// description of errors, rather than on every operation. The answer is
// still the one error shape.
func (c *docChecker) checkHeadTooLarge(t testing.TB, req *http.Request, body []byte) {
	t.Helper()
	if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(c.errorSchema, body, 3.1); !ok {
		t.Errorf("the 431 answer to %s %s is not the Error shape:%s\nbody: %s",
			req.Method, req.URL.Path, Describe(errs), clip(body))
	}
}

func Describe(errs []*liberrors.ValidationError) string {
	var b strings.Builder
	for _, e := range errs {
		fmt.Fprintf(&b, "\n  %s", e.Message)
		if e.Reason != "" && e.Reason != e.Message {
			fmt.Fprintf(&b, ": %s", e.Reason)
		}
		if e.SpecLine > 0 {
			fmt.Fprintf(&b, " (openapi.yaml line %d)", e.SpecLine)
		}
		for _, s := range e.SchemaValidationErrors {
			fmt.Fprintf(&b, "\n    %s: %s", s.FieldPath, s.Reason)
		}
	}
	return b.String()
}

func clip(b []byte) string {
	if len(b) > 600 {
		return string(b[:600]) + "…"
	}
	return string(b)
}

// Model is the document, parsed.
func Model() (*v3.Document, error) {
	c, err := loadChecker()
	if err != nil {
		return nil, err
	}
	return c.model, nil
}
