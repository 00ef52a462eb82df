// Package api is Herald's REST API (Fiber): webhook configuration, event
// ingestion, delivery history. Every error leaves as one JSON shape whose
// status comes from one table.
package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/adaptor"
	"github.com/gofiber/fiber/v2/middleware/recover"
	"github.com/gofiber/fiber/v2/utils"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"golang.org/x/time/rate"

	"github.com/loki-interceptor/herald/delivery"
	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/ingest"
	"github.com/loki-interceptor/herald/integrations"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/telemetry"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// DefaultMaxPayloadBytes caps an event's payload.
const DefaultMaxPayloadBytes = 256 << 10

// Config tunes the API.
type Config struct {
	URLPolicy       webhook.URLPolicy
	MaxPayloadBytes int
	// Windows are the rate-limit window lengths, the workers' own: a test
	// delivery takes its slot in the same windows as attempts.
	Windows store.Windows
	// StartTimeout bounds handing an event to Temporal; past it the API
	// answers 503 and nothing is accepted.
	StartTimeout time.Duration
	// QueryTimeout bounds a live-state query to a delivery's workflow.
	QueryTimeout time.Duration
	Now          func() time.Time
	Logger       *slog.Logger
	// Mailer sends integration email (tests set its RootCAs).
	Mailer *integrations.Mailer
	// KeyRate and KeyBurst bound each API key's requests per second (0:
	// the defaults; a negative KeyRate: no limit).
	KeyRate  float64
	KeyBurst int
	// SecretOverlap is how long a rotated-out secret keeps signing, unless
	// a rotation says otherwise: 0 is the default (24 h), NoSecretOverlap
	// none.
	SecretOverlap time.Duration
	// Telemetry traces requests and serves /metrics; nil: neither.
	Telemetry *telemetry.Telemetry
	// EagerStart hands each event's first workflow task straight to a
	// worker sharing the Temporal client (herald dev), skipping a poll.
	EagerStart bool
	// EventTypeTTL is how long this process trusts its view of the
	// operators' event types before re-reading it (0: 2 s): a type
	// defined through another API process is known here that much later.
	EventTypeTTL time.Duration
	// Dashboard is the browser dashboard (package dashboard), served at
	// /ui/, where / leads; nil: none. Its pages use only /api/v1.
	Dashboard http.Handler
	// InsecureSessionCookie leaves Secure off the session cookie, for
	// plain http on loopback (herald dev) only: anywhere else the key it
	// holds must not cross the network in the clear.
	InsecureSessionCookie bool
	// SessionMaxAge bounds a browser session (0: DefaultSessionMaxAge); a
	// key that expires sooner ends it sooner.
	SessionMaxAge time.Duration
	// TemporalUI is the Temporal Web UI's base URL and Namespace the
	// namespace, for the dashboard's links to workflows ("": no links).
	TemporalUI string
	Namespace  string
	// SignIn, when set, is a one-time code that signs its holder in
	// (herald dev's dashboard link).
	SignIn *SignInCode
}

// Store is everything the API keeps and reads; each handler file declares
// its share where it uses it. *store.Store is the one Herald runs with.
type Store interface {
	Ping(ctx context.Context) error
	analyticsStore
	keyStore
	attemptLog
	eventStore
	eventTypeStore
	healthStore
	operateStore
	rotateStore
	streamStore
	timelineStore
	webhookStore
	ingest.Store
	eventtypes.Source
	integrations.Recorder
}

// Temporal is what the API asks of Temporal: it starts, signals, updates
// and queries event and stream workflows, reads their histories and
// checks the workers; ingest.Temporal adds what publishing needs.
// client.Client is one.
type Temporal interface {
	CheckHealth(ctx context.Context, request *client.CheckHealthRequest) (*client.CheckHealthResponse, error)
	DescribeTaskQueue(ctx context.Context, taskqueue string, taskqueueType enums.TaskQueueType) (*workflowservice.DescribeTaskQueueResponse, error)
	GetWorkflowHistory(ctx context.Context, workflowID string, runID string, isLongPoll bool, filterType enums.HistoryEventFilterType) client.HistoryEventIterator
	ListWorkflow(ctx context.Context, request *workflowservice.ListWorkflowExecutionsRequest) (*workflowservice.ListWorkflowExecutionsResponse, error)
	NewWithStartWorkflowOperation(options client.StartWorkflowOptions, workflow any, args ...any) client.WithStartWorkflowOperation
	QueryWorkflow(ctx context.Context, workflowID string, runID string, queryType string, args ...any) (converter.EncodedValue, error)
	SignalWorkflow(ctx context.Context, workflowID string, runID string, signalName string, arg any) error
	UpdateWithStartWorkflow(ctx context.Context, options client.UpdateWithStartWorkflowOptions) (client.WorkflowUpdateHandle, error)
	UpdateWorkflow(ctx context.Context, options client.UpdateWorkflowOptions) (client.WorkflowUpdateHandle, error)
	ingest.Temporal
}

// Server is the API.
type Server struct {
	app        *fiber.App
	store      Store
	temporal   Temporal
	deliverer  *integrations.Deliverer // test deliveries
	publisher  *ingest.Publisher
	types      *eventtypes.Registry
	limiters   *keyLimiters
	failures   *keyLimiters // failed authentications, by client address
	signInCode atomic.Pointer[SignInCode]
	tracer     trace.Tracer
	cfg        Config
}

// New builds the API over a store, a Temporal client (to start and query
// event workflows) and a sender (for test deliveries).
func New(cfg Config, s Store, tc Temporal, sender *delivery.Sender) *Server {
	cfg.defaults()
	srv := &Server{store: s, temporal: tc, cfg: cfg,
		deliverer: &integrations.Deliverer{HTTP: sender, Mail: cfg.Mailer},
		limiters: &keyLimiters{rate: rate.Limit(cfg.KeyRate), burst: cfg.KeyBurst,
			byKey: map[string]*rate.Limiter{}, touched: map[string]time.Time{}},
		failures:  &keyLimiters{rate: failureRate, burst: failureBurst, byKey: map[string]*rate.Limiter{}},
		publisher: &ingest.Publisher{Store: s, Temporal: tc, StartTimeout: cfg.StartTimeout, Logger: cfg.Logger, EagerStart: cfg.EagerStart}}
	srv.signInCode.Store(cfg.SignIn)
	srv.types = eventtypes.New(s, eventtypes.Options{TTL: cfg.EventTypeTTL, Now: cfg.Now, Logger: cfg.Logger})
	if srv.cfg.URLPolicy.EventTypes == nil {
		// Subscriptions are checked with the URLs: custom types count.
		srv.cfg.URLPolicy.EventTypes = srv.types
	}
	srv.app = fiber.New(fiber.Config{
		AppName:               "herald",
		DisableStartupMessage: true,
		// Handlers keep strings and bodies beyond the request (payloads go
		// to Temporal); Fiber's default reuses those buffers.
		Immutable: true,
		// Event ids may hold ':' which clients percent-encode in paths.
		UnescapePath: true,
		// One spelling per route: scopes are decided on the path, and
		// /API/V1/API-KEYS must not be a way around them.
		CaseSensitive: true,
		BodyLimit:     max(1<<20, cfg.MaxPayloadBytes+64<<10),
		// Also the largest request head (line and headers) accepted: a
		// bigger one is refused with 431 before any handler runs.
		ReadBufferSize: 8 << 10,
		ReadTimeout:    30 * time.Second,
		WriteTimeout:   60 * time.Second,
		IdleTimeout:    2 * time.Minute,
		ErrorHandler:   srv.errorHandler,
	})
	srv.tracer = noop.NewTracerProvider().Tracer("")
	if cfg.Telemetry != nil {
		srv.tracer = cfg.Telemetry.TracerProvider.Tracer("github.com/loki-interceptor/herald/api")
		// Outside /api/v1 and its keys: Prometheus scrapes without one.
		srv.app.Get("/metrics", adaptor.HTTPHandler(cfg.Telemetry.Handler()))
	}
	srv.app.Use(recover.New(), securityHeaders, identityOnly, srv.observe)
	srv.routes()
	return srv
}

// defaults fills in what a Config leaves out.
func (c *Config) defaults() {
	if c.MaxPayloadBytes <= 0 {
		c.MaxPayloadBytes = DefaultMaxPayloadBytes
	}
	if c.StartTimeout <= 0 {
		c.StartTimeout = 10 * time.Second
	}
	if c.QueryTimeout <= 0 {
		c.QueryTimeout = 5 * time.Second
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.SecretOverlap == 0:
		c.SecretOverlap = DefaultSecretOverlap
	case c.SecretOverlap < 0:
		c.SecretOverlap = 0
	}
	if c.KeyRate == 0 {
		c.KeyRate = DefaultKeyRate
	}
	if c.KeyBurst <= 0 {
		c.KeyBurst = max(DefaultKeyBurst, int(c.KeyRate))
	}
	if c.SessionMaxAge <= 0 {
		c.SessionMaxAge = DefaultSessionMaxAge
	}
}

func (s *Server) routes() {
	// /healthz and /readyz are for probes: the API process and what it
	// needs to accept events. /api/v1/ready adds the workers, for operators.
	s.app.Get("/healthz", s.health)
	s.app.Get("/readyz", func(c *fiber.Ctx) error { return s.ready(c, false) })
	s.dashboardRoutes()

	v1 := s.app.Group("/api/v1")
	v1.Get("/health", s.health)
	v1.Get("/ready", func(c *fiber.Ctx) error { return s.ready(c, true) })
	v1.Get("/openapi.json", s.openAPIDocument)
	// Signing in checks the key it is given; signing out needs none.
	v1.Post("/session", s.signIn)
	v1.Delete("/session", s.signOut)
	// Everything below needs an API key: these routes are matched after it.
	v1.Use(s.authenticate)
	v1.Get("/session", s.getSession)
	v1.Post("/api-keys", s.createAPIKey)
	v1.Get("/api-keys", s.listAPIKeys)
	v1.Delete("/api-keys/:id", s.revokeAPIKey)
	v1.Post("/webhooks", s.createWebhook)
	v1.Get("/webhooks", s.listWebhooks)
	v1.Get("/webhooks/:id", s.getWebhook)
	v1.Put("/webhooks/:id", s.updateWebhook)
	v1.Delete("/webhooks/:id", s.deleteWebhook)
	v1.Post("/webhooks/:id/test", s.testWebhook)
	v1.Get("/deliveries", s.listAllDeliveries)
	v1.Get("/webhooks/:id/deliveries", s.listDeliveries)
	v1.Get("/webhooks/:id/deliveries/:delivery_id", s.getDelivery)
	v1.Post("/webhooks/:id/deliveries/:delivery_id/retry", s.retryDelivery)
	v1.Post("/webhooks/:id/deliveries/:delivery_id/cancel", s.cancelDelivery)
	v1.Post("/webhooks/:id/retry", s.retryFailed)
	v1.Post("/webhooks/:id/rotate-secret", s.rotateSecret)
	v1.Get("/webhooks/:id/analytics", s.webhookAnalytics)
	v1.Get("/analytics", s.analytics)

	s.integrationRoutes(v1)

	v1.Get("/event-types", s.listEventTypes)
	v1.Get("/event-types/:type", s.getEventType)
	v1.Get("/event-types/:type/schema", s.getEventTypeSchema)
	v1.Put("/event-types/:type", s.putEventType)
	v1.Delete("/event-types/:type", s.deleteEventType)
	v1.Post("/events", s.publishEvent)
	v1.Post("/events/batch", s.publishEvents)
	v1.Get("/events", s.listEvents)
	v1.Get("/events/:event_id", s.getEvent)
	v1.Get("/events/:event_id/timeline", s.eventTimeline)
}

// integrationRoutes are the LOKI guide's integration endpoints, plus the
// delivery history, retries and analytics webhooks have, by name. The LOKI
// guide writes the collection with a trailing slash; routing is not strict,
// so both forms work.
func (s *Server) integrationRoutes(v1 fiber.Router) {
	v1.Post("/integrations", s.createIntegration)
	v1.Get("/integrations", s.listIntegrations)
	v1.Get("/integrations/health", s.integrationHealth)
	v1.Get("/integrations/metrics", s.integrationMetrics)
	v1.Get("/integrations/:name", s.getIntegration)
	v1.Put("/integrations/:name", s.updateIntegration)
	v1.Patch("/integrations/:name", s.updateIntegration)
	v1.Delete("/integrations/:name", s.deleteIntegration)
	v1.Post("/integrations/:name/test", s.testIntegration)
	v1.Get("/integrations/:name/subscriptions", s.getSubscriptions)
	v1.Post("/integrations/:name/subscribe/:event_type", s.subscribe(false))
	v1.Delete("/integrations/:name/subscribe/:event_type", s.subscribe(true))
	v1.Get("/integrations/:name/deliveries", s.asIntegration(s.listDeliveries))
	v1.Get("/integrations/:name/deliveries/:delivery_id", s.asIntegration(s.getDelivery))
	v1.Post("/integrations/:name/deliveries/:delivery_id/retry", s.asIntegration(s.retryDelivery))
	v1.Post("/integrations/:name/deliveries/:delivery_id/cancel", s.asIntegration(s.cancelDelivery))
	v1.Post("/integrations/:name/retry", s.asIntegration(s.retryFailed))
	v1.Post("/integrations/:name/rotate-secret", s.asIntegration(s.rotateSecret))
	v1.Get("/integrations/:name/analytics", s.asIntegration(s.webhookAnalytics))
}

// dashboardRoutes serve the dashboard's pages and files under /ui/; / leads
// there.
func (s *Server) dashboardRoutes() {
	if s.cfg.Dashboard == nil {
		return
	}
	serve := adaptor.HTTPHandler(s.cfg.Dashboard)
	s.app.Get("/", func(c *fiber.Ctx) error { return c.Redirect("/ui/", fiber.StatusFound) })
	s.app.Get("/ui/*", func(c *fiber.Ctx) error {
		// The pages carry their own policy (scripts and styles from this
		// origin): securityHeaders' one, for JSON, would block them, and
		// the adaptor adds the handler's headers rather than replacing.
		for _, h := range pageHeaders {
			c.Response().Header.Del(h)
		}
		return serve(c)
	})
}

// pageHeaders are the security headers the dashboard sets for its pages.
var pageHeaders = []string{fiber.HeaderContentSecurityPolicy, fiber.HeaderXFrameOptions, fiber.HeaderCacheControl,
	fiber.HeaderXContentTypeOptions, fiber.HeaderReferrerPolicy}

// App exposes the Fiber app (tests drive it in-process).
func (s *Server) App() *fiber.App { return s.app }

// Serve answers requests on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error { return s.app.Listener(lingerListener{ln}) }

// Shutdown stops accepting and waits for requests in flight, up to ctx.
func (s *Server) Shutdown(ctx context.Context) error { return s.app.ShutdownWithContext(ctx) }

// statusOf is the one table from error code to HTTP status.
var statusOf = map[webhook.Code]int{
	webhook.EInvalid:      fiber.StatusBadRequest,
	webhook.EValidation:   fiber.StatusUnprocessableEntity,
	webhook.EUnauthorized: fiber.StatusUnauthorized,
	webhook.EForbidden:    fiber.StatusForbidden,
	webhook.ENotFound:     fiber.StatusNotFound,
	webhook.EConflict:     fiber.StatusConflict,
	webhook.ETooLarge:     fiber.StatusRequestEntityTooLarge,
	webhook.EUnsupported:  fiber.StatusUnsupportedMediaType,
	webhook.ERateLimited:  fiber.StatusTooManyRequests,
	webhook.EUnavailable:  fiber.StatusServiceUnavailable,
	webhook.EInternal:     fiber.StatusInternalServerError,
}

// codeOf names the errors Fiber raises itself (unknown route, body too large).
var codeOf = map[int]webhook.Code{
	fiber.StatusBadRequest:            webhook.EInvalid,
	fiber.StatusNotFound:              webhook.ENotFound,
	fiber.StatusRequestEntityTooLarge: webhook.ETooLarge,
}

type errorBody struct {
	Code    webhook.Code `json:"code"`
	Message string       `json:"message"`
	// Details is always there, an empty object when there is nothing to
	// add, so clients can read fields of it without a nil check.
	Details any `json:"details"`
}

func (s *Server) errorHandler(c *fiber.Ctx, err error) error {
	var herr *webhook.Error
	var ferr *fiber.Error
	body, status := errorBody{}, 0
	switch {
	case errors.As(err, &herr):
		body = errorBody{Code: herr.Code, Message: herr.Message, Details: herr.Details}
		status = statusOf[herr.Code]
	case errors.As(err, &ferr):
		status = ferr.Code
		code, ok := codeOf[status]
		if !ok {
			code = webhook.Code(codeName(status))
		}
		body = errorBody{Code: code, Message: ferr.Message}
	}
	if status == 0 || status >= 500 && body.Code == webhook.EInternal {
		s.cfg.Logger.Error("request failed", "method", c.Method(), "path", c.Path(), "error", err)
		status, body = fiber.StatusInternalServerError, errorBody{Code: webhook.EInternal, Message: "internal error; see the server log"}
	}
	if body.Details == nil {
		body.Details = struct{}{}
	}
	return c.Status(status).JSON(fiber.Map{"error": body})
}

// codeName turns "Method Not Allowed" into "method_not_allowed".
func codeName(status int) string {
	b := []byte(utils.StatusMessage(status))
	for i, ch := range b {
		switch {
		case ch == ' ' || ch == '-':
			b[i] = '_'
		case ch >= 'A' && ch <= 'Z':
			b[i] = ch + 'a' - 'A'
		}
	}
	return string(b)
}

// decode reads a JSON body strictly: one object, no unknown fields. Syntax
// errors are EInvalid; a field of the wrong type is EValidation naming it.
func decode(c *fiber.Ctx, v any) error {
	body := c.Request().Body() // as sent: never unpacked (identityOnly)
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return webhook.Errorf(webhook.EInvalid, "request body is required (JSON)")
	}
	// encoding/json reads null into a struct as nothing at all, which would
	// make it an empty update; the document takes only an object.
	if string(trimmed) == "null" {
		return webhook.Errorf(webhook.EInvalid, "request body must be a JSON object")
	}
	if depth(body) > MaxJSONDepth {
		return webhook.Errorf(webhook.EInvalid, "request body nests deeper than %d levels", MaxJSONDepth)
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err := dec.Decode(v)
	if err == nil {
		if _, extra := dec.Token(); extra != io.EOF {
			return webhook.Errorf(webhook.EInvalid, "request body must be a single JSON object")
		}
		return nil
	}
	var typeErr *json.UnmarshalTypeError
	if errors.As(err, &typeErr) && typeErr.Field == "" {
		return webhook.Errorf(webhook.EInvalid, "request body must be a JSON object")
	}
	if errors.As(err, &typeErr) {
		var fe webhook.FieldErrors
		// encoding/json names an embedded struct's fields with its Go name
		// in front; the client knows them by their JSON names alone.
		field := strings.TrimPrefix(strings.TrimPrefix(typeErr.Field, "deliveryInput."), "RetryOverride.")
		fe.Add(field, "must be %s", jsonKind(typeErr.Type.Kind().String()))
		return fe.Err("request")
	}
	return webhook.Errorf(webhook.EInvalid, "request body is not valid JSON: %s", trimJSONErr(err))
}

// MaxJSONDepth bounds how deeply a request's JSON may nest: no payload of
// LOKI's needs more, and a deeper one costs the decoder for nothing.
const MaxJSONDepth = 32

// depth is the deepest nesting of objects and arrays in b, read without
// decoding (so a hostile body costs one pass); strings are skipped.
func depth(b []byte) int {
	d, deepest, inString := 0, 0, false
	for i := 0; i < len(b); i++ {
		switch ch := b[i]; {
		case inString && ch == '\\':
			i++
		case ch == '"':
			inString = !inString
		case inString:
		case ch == '{' || ch == '[':
			d++
			deepest = max(deepest, d)
		case ch == '}' || ch == ']':
			d--
		}
	}
	return deepest
}

func jsonKind(goKind string) string {
	switch goKind {
	case "int", "int64":
		return "an integer"
	case "float64":
		return "a number"
	case "string":
		return "a string"
	case "slice":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	case "bool":
		return "a boolean"
	}
	return "of another type"
}

func trimJSONErr(err error) string {
	msg := err.Error()
	if len(msg) > 5 && msg[:5] == "json:" {
		msg = msg[6:]
	}
	return msg
}

func pathID(c *fiber.Ctx, name, what string) (int64, error) {
	id, err := strconv.ParseInt(c.Params(name), 10, 64)
	if err != nil || id <= 0 {
		return 0, webhook.Errorf(webhook.ENotFound, "%s %q not found (ids are positive integers)", what, c.Params(name))
	}
	return id, nil
}

// intQuery reads ?name= as an integer from lo to hi, def when absent.
func intQuery(c *fiber.Ctx, name string, def, lo, hi int) (int, error) {
	raw := c.Query(name)
	if raw == "" {
		return def, nil
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < lo || n > hi {
		return 0, webhook.Errorf(webhook.EInvalid, "%s must be an integer from %d to %d", name, lo, hi)
	}
	return n, nil
}

// page reads ?limit=&offset=.
func page(c *fiber.Ctx) (store.Page, error) {
	var p store.Page
	for name, dst := range map[string]*int{"limit": &p.Limit, "offset": &p.Offset} {
		raw := c.Query(name)
		if raw == "" {
			continue
		}
		n, err := strconv.Atoi(raw)
		if err != nil || n < 0 || (name == "limit" && (n == 0 || n > store.MaxLimit)) {
			if name == "limit" {
				return p, webhook.Errorf(webhook.EInvalid, "limit must be an integer from 1 to %d", store.MaxLimit)
			}
			return p, webhook.Errorf(webhook.EInvalid, "offset must be a non-negative integer")
		}
		*dst = n
	}
	if p.Limit == 0 {
		p.Limit = store.DefaultLimit
	}
	return p, nil
}

type listBody[T any] struct {
	Items  []T
	Total  int
	Page   store.Page
	Plural string
}

func (l listBody[T]) send(c *fiber.Ctx) error {
	if l.Items == nil {
		l.Items = []T{}
	}
	return c.JSON(fiber.Map{l.Plural: l.Items, "total": l.Total, "limit": l.Page.Limit, "offset": l.Page.Offset})
}

func (s *Server) health(c *fiber.Ctx) error { return c.JSON(fiber.Map{"status": "ok"}) }

// ready reports whether the database and Temporal answer and, with
// workers, whether a worker polls Herald's task queue.
func (s *Server) ready(c *fiber.Ctx, workers bool) error {
	// Each dependency has its own time limit: a database that hangs must
	// not make Temporal look down too.
	dbCtx, cancelDB := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancelDB()
	ctx, cancel := context.WithTimeout(c.UserContext(), 3*time.Second)
	defer cancel()
	checks, ok := fiber.Map{}, true
	// Readiness answers without a key, so it names what is down but keeps
	// the details (addresses, driver errors) for the log.
	check := func(name string, err error, okText string) {
		if err != nil {
			s.cfg.Logger.Warn("not ready", "check", name, "error", err)
			checks[name], ok = "unavailable; see the server log", false
		} else {
			checks[name] = okText
		}
	}
	var dbErr error
	var wg sync.WaitGroup
	wg.Go(func() { dbErr = within(dbCtx, s.store.Ping) })
	_, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{})
	wg.Wait()
	check("database", dbErr, "ok")
	check("temporal", err, "ok")
	if workers && err == nil {
		switch n, err := s.pollers(ctx); {
		case err != nil:
			check("worker", err, "")
		case n == 0:
			checks["worker"], ok = "no worker has polled task queue "+workflows.TaskQueue+" in the last minute", false
		default:
			checks["worker"] = fmt.Sprintf("ok (%d poller(s))", n)
		}
	}
	status := fiber.StatusOK
	if !ok {
		status = fiber.StatusServiceUnavailable
	}
	return c.Status(status).JSON(fiber.Map{"status": map[bool]string{true: "ready", false: "not ready"}[ok], "checks": checks})
}

// within runs f but answers by ctx's deadline: a database behind a network
// partition can hold a connection's read past any context (the driver
// notices only when TCP gives up), and a probe must answer in time.
func within(ctx context.Context, f func(context.Context) error) error {
	done := make(chan error, 1)
	go func() { done <- f(ctx) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// pollers counts the workers that polled Herald's task queue lately.
func (s *Server) pollers(ctx context.Context) (int, error) {
	resp, err := s.temporal.DescribeTaskQueue(ctx, workflows.TaskQueue, enums.TASK_QUEUE_TYPE_WORKFLOW)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, p := range resp.GetPollers() {
		if time.Since(p.GetLastAccessTime().AsTime()) < time.Minute {
			n++
		}
	}
	return n, nil
}

func unavailable(what string, err error) error {
	return &webhook.Error{Code: webhook.EUnavailable, Message: fmt.Sprintf("%s: %v", what, err)}
}
