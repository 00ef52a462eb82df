package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"
	"gopkg.in/yaml.v3"

	"github.com/loki-interceptor/herald/api"
	"github.com/loki-interceptor/herald/api/openapitest"
)

// The document (api/openapi.yaml) is held to the server three ways: the
// routes (TestOpenAPIDocumentsEveryRoute), every answer the API tests
// receive (openapitest.CheckExchange, called by the fixture's doHeader and
// serve), and the scopes (TestOpenAPIScopes, in package api).
// libopenapi-validator does the checking: it implements OpenAPI 3.1 and
// JSON Schema 2020-12 (type arrays for null, const, anyOf), and its strict
// mode reports fields an answer has that the document does not name, so a
// field added to the server without its entry fails here.

var fiberParam = regexp.MustCompile(`:([A-Za-z_][A-Za-z0-9_]*)`)

// documented lists the document's operations as "METHOD /path".
func documented(m *v3.Document) []string {
	var out []string
	for path, item := range m.Paths.PathItems.FromOldest() {
		for method := range item.GetOperations().FromOldest() {
			out = append(out, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(out)
	return out
}

// A route without its entry, or an entry without its route, fails: the
// document is what clients are generated from.
func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	model, err := openapitest.Model()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	var served []string
	for _, r := range f.srv.App().GetRoutes(true) {
		// Fiber adds a HEAD route for every GET; the document names the GET.
		if r.Method == http.MethodHead || !strings.HasPrefix(r.Path, "/api/v1/") {
			continue
		}
		if strings.ContainsAny(r.Path, "*?+") {
			t.Errorf("route %s %s: wildcard and optional parameters have no OpenAPI spelling", r.Method, r.Path)
		}
		served = append(served, r.Method+" "+fiberParam.ReplaceAllString(r.Path, "{$1}"))
	}
	slices.Sort(served)
	served = slices.Compact(served)
	docs := documented(model)
	for _, r := range served {
		if _, found := slices.BinarySearch(docs, r); !found {
			t.Errorf("route %s is served but not in api/openapi.yaml", r)
		}
	}
	for _, d := range docs {
		if _, found := slices.BinarySearch(served, d); !found {
			t.Errorf("api/openapi.yaml documents %s, which the server does not route", d)
		}
	}
	if len(docs) < 49 {
		t.Errorf("only %d operations documented", len(docs))
	}
}

// The document is valid OpenAPI 3.1, and every operation has a unique id
// (generators name methods by it) and a tag.
func TestOpenAPIDocumentIsValid(t *testing.T) {
	doc, err := libopenapi.NewDocument(api.OpenAPIYAML)
	if err != nil {
		t.Fatal(err)
	}
	if v := doc.GetVersion(); v != "3.1.0" {
		t.Fatalf("openapi %s, want 3.1.0", v)
	}
	v, errs := validator.NewValidator(doc)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if ok, errs := v.ValidateDocument(); !ok {
		t.Fatalf("api/openapi.yaml is not valid OpenAPI 3.1:%s", openapitest.Describe(errs))
	}
	model, err := openapitest.Model()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]string{}
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			where := method + " " + path
			if op.OperationId == "" || ids[op.OperationId] != "" || len(op.Tags) == 0 {
				t.Errorf("%s: operationId %q (also %q), tags %v", where, op.OperationId, ids[op.OperationId], op.Tags)
			}
			ids[op.OperationId] = where
		}
	}
}

// The document is served as JSON, without a key, and says what the YAML
// in the repository says.
func TestOpenAPIServedAsJSON(t *testing.T) {
	f := newFixture(t)
	r := f.doAs("", "GET", "/api/v1/openapi.json", "")
	if r.status != 200 || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") || r.body["openapi"] != "3.1.0" {
		t.Fatalf("%d %s %.200s", r.status, r.header.Get("Content-Type"), r.raw)
	}
	var fromYAML any
	if err := yaml.Unmarshal(api.OpenAPIYAML, &fromYAML); err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(fromYAML)
	var a, b any
	if err := json.Unmarshal(want, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal([]byte(r.raw), &b); err != nil {
		t.Fatal(err)
	}
	if mustJSON(a) != mustJSON(b) {
		t.Fatal("the served document differs from api/openapi.yaml")
	}
	// Order is kept: info before paths, as written.
	if strings.Index(r.raw, `"info"`) > strings.Index(r.raw, `"paths"`) {
		t.Fatal("the served document lost the YAML's order")
	}
}

// The document says which operations need a key: each public one answers
// without one, and every other refuses before anything else (401; 429 once
// this address has sent too many requests without a valid key).
func TestOpenAPIPublicOperations(t *testing.T) {
	model, err := openapitest.Model()
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t)
	for path, item := range model.Paths.PathItems.FromOldest() {
		for method, op := range item.GetOperations().FromOldest() {
			public := op.Security != nil && len(op.Security) == 0
			r := f.doAs("", strings.ToUpper(method), strings.NewReplacer("{", "", "}", "").Replace(path), "")
			if refused := r.status == http.StatusUnauthorized || r.status == http.StatusTooManyRequests; public == refused {
				t.Errorf("%s %s: documented public=%v, answered %d without a key", method, path, public, r.status)
			}
		}
	}
}

// The other API tests reach most answers; these are the successful ones
// they do not, and that need no Temporal: an event with an attempt row, a
// subscriber's figures and history, and the integration forms of the
// webhook routes. Each answer is checked against the document by the
// fixture; the statuses are checked here.
func TestOpenAPIAnswersWithoutTemporal(t *testing.T) {
	f := newFixture(t)
	hook := f.mustCreate(validWebhook)
	slack := f.mustIntegration(validSlack)
	hookID, slackID := int64(hook["id"].(float64)), int64(slack["id"].(float64))
	delivery := f.mustAttempt(hookID, "evt-doc-1")
	f.mustAttempt(slackID, "evt-doc-2")
	integ := "/api/v1/integrations/Slack%20Alerts"
	for _, tc := range []struct {
		method, path, body string
		status             int
	}{
		{"GET", "/api/v1/events/evt-doc-1", "", 200},
		{"GET", "/api/v1/events?event_type=system.error&limit=1", "", 200},
		{"GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries?status=failed&event_id=evt-doc-1", hookID), "", 200},
		{"GET", fmt.Sprintf("/api/v1/webhooks/%d/deliveries/%d", hookID, delivery), "", 200},
		{"GET", fmt.Sprintf("/api/v1/webhooks/%d/analytics?period_days=1", hookID), "", 200},
		{"POST", fmt.Sprintf("/api/v1/webhooks/%d/retry?max_age_hours=1&limit=10", hookID), "", 503},
		{"GET", integ + "/deliveries", "", 200},
		{"GET", integ + "/analytics", "", 200},
		{"GET", integ + "/subscriptions", "", 200},
		{"GET", "/api/v1/integrations/health", "", 200},
		{"GET", "/api/v1/integrations/metrics", "", 200},
		{"PATCH", integ, `{"status":"paused","status_reason":"maintenance"}`, 200},
		{"GET", "/api/v1/integrations/health", "", 200},
		{"POST", integ + "/subscribe/*", "", 200},
		{"DELETE", integ + "/subscribe/*", "", 200},
		{"POST", integ + "/rotate-secret", "", 409},
		{"DELETE", integ, "", 204},
		{"GET", "/api/v1/analytics?period_days=1&event_type=system.error", "", 200},
	} {
		if r := f.do(tc.method, tc.path, tc.body); r.status != tc.status {
			t.Errorf("%s %s: %d, want %d: %s", tc.method, tc.path, r.status, tc.status, r.raw)
		}
	}
}
