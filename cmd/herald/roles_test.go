package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"
	"github.com/loki-interceptor/herald/workflows"
)

// TestProductionRoles runs Herald as production does: `herald migrate`, then
// `herald api` and two `herald worker`s, on PostgreSQL and on a namespace of
// their own that only migrate prepared. Temporal here is the one `herald dev`
// embeds; the roles only see its address.
func TestProductionRoles(t *testing.T) {
	dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "-1")
	temporalAddr := waitFor(t, &dev.out, &dev.err, `Temporal\s+(127\.0\.0\.1:\d+)`)
	const namespace = "herald-prod"
	nc, err := client.NewNamespaceClient(client.Options{HostPort: temporalAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Register(context.Background(), &workflowservice.RegisterNamespaceRequest{
		Namespace: namespace, WorkflowExecutionRetentionPeriod: durationpb.New(24 * time.Hour),
	}); err != nil {
		t.Fatal(err)
	}
	dbURL := storetest.MustPostgresSchema(t)
	t.Setenv("HERALD_DATABASE_URL", dbURL)
	t.Setenv("HERALD_TEMPORAL_ADDRESS", temporalAddr)
	t.Setenv("HERALD_NAMESPACE", namespace)
	oldKey := secretbox.NewKey()
	t.Setenv("HERALD_ENCRYPTION_KEY", oldKey)

	var out syncBuffer
	if err := run(context.Background(), []string{"migrate"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	ms, _ := schema.Migrations(schema.Postgres)
	versions := make([]int, len(ms))
	for i, m := range ms {
		versions[i] = m.Version
	}
	if !strings.Contains(out.String(), fmt.Sprintf("database: %d migration(s) applied %v", len(ms), versions)) || !strings.Contains(out.String(), "search attributes and maintenance schedule ready on namespace herald-prod") {
		t.Fatalf("migrate said:\n%s", out.String())
	}
	tc, err := client.Dial(client.Options{HostPort: temporalAddr, Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	sas, err := tc.OperatorService().ListSearchAttributes(context.Background(), &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		t.Fatal(err)
	}
	for name, typ := range workflows.SearchAttributes() {
		if sas.GetCustomAttributes()[name] != typ {
			t.Fatalf("search attribute %s not registered as %v: %v", name, typ, sas.GetCustomAttributes())
		}
	}
	out = syncBuffer{}
	if err := run(context.Background(), []string{"migrate"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "database: 0 migration(s) applied") {
		t.Fatalf("second migrate: %v\n%s", err, out.String())
	}

	// The first key comes from the admin CLI, against the store.
	out = syncBuffer{}
	if err := run(context.Background(), []string{"apikey", "create", "--name", "ops", "--scopes", "admin"}, &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	key := regexp.MustCompile(`hrld_\S+`).FindString(out.String())
	out = syncBuffer{}
	if err := run(context.Background(), []string{"apikey", "list"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "ops") || strings.Contains(out.String(), key) {
		t.Fatalf("apikey list: %v\n%s", err, out.String())
	}

	apiAddr := freeAddr(t)
	// The receiver is on loopback: production refuses it unless allowed.
	t.Setenv("HERALD_ALLOW_CIDRS", "127.0.0.1/32")
	apiCmd := start(t, "api", "--listen", apiAddr, "--allow-insecure-urls")
	start(t, "worker")
	start(t, "worker")
	waitFor(t, &apiCmd.err, &apiCmd.out, `API listening`)
	api := "http://" + apiAddr

	var mu sync.Mutex
	var got []*http.Request
	var bodies [][]byte
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got, bodies = append(got, r), append(bodies, b)
		mu.Unlock()
	}))
	defer recv.Close()
	var hook struct {
		ID     int64  `json:"id"`
		Secret string `json:"secret"`
	}
	if code := call(t, key, "POST", api+"/api/v1/webhooks/", `{"name":"prod","url":"`+recv.URL+`","event_types":["*"]}`, &hook); code != 201 {
		t.Fatalf("create webhook: %d", code)
	}
	// A namespace's new search attributes reach every frontend within its
	// cache refresh (10 s); until then Temporal refuses starts that use them.
	// Wait for that with a probe, so the publish below must succeed at once.
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, err := tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
			ID: "probe-" + time.Now().Format("150405.000000"), TaskQueue: "probe",
			TypedSearchAttributes: temporal.NewSearchAttributes(workflows.SearchEventType.ValueSet("probe")),
		}, "Probe")
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("search attributes never became usable: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	var acc struct {
		EventID string `json:"event_id"`
	}
	if code := call(t, key, "POST", api+"/api/v1/events", `{"event_type":"system.error","payload":{"error_code":"E1","component":"c","severity":"low"}}`, &acc); code != 202 {
		t.Fatalf("publish: %d", code)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var res workflows.EventResult
	if err := tc.GetWorkflow(ctx, workflows.EventWorkflowID(acc.EventID), "").Get(ctx, &res); err != nil || res.Delivered != 1 {
		t.Fatalf("event workflow: %+v %v", res, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 {
		t.Fatalf("receiver got %d requests", len(got))
	}
	if err := webhook.VerifyHeaders(hook.Secret, got[0].Header, bodies[0], time.Now()); err != nil {
		t.Fatalf("signature: %v", err)
	}
	if !strings.Contains(string(bodies[0]), fmt.Sprintf(`"event_id":%q`, acc.EventID)) {
		t.Fatalf("body %s", bodies[0])
	}
	// Rotating the encryption key: every secret re-sealed under the new key,
	// which alone then opens them.
	newKey := secretbox.NewKey()
	t.Setenv("HERALD_ENCRYPTION_KEY", newKey+","+oldKey)
	out = syncBuffer{}
	if err := run(context.Background(), []string{"rotate-encryption-key"}, &out, io.Discard); err != nil || !strings.Contains(out.String(), "1 row(s) re-encrypted") {
		t.Fatalf("rotate-encryption-key: %v\n%s", err, out.String())
	}
	raw, _ := secretbox.ParseKey(newKey)
	box, _ := secretbox.New(raw)
	st, err := store.Open(context.Background(), dbURL, box)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if w, err := st.GetWebhook(context.Background(), hook.ID); err != nil || w.Secret != hook.Secret {
		t.Fatalf("after the rotation the new key alone reads %v", err)
	}
	// A key revoked with the CLI stops working at once.
	if err := run(context.Background(), []string{"apikey", "revoke", "1"}, io.Discard, io.Discard); err != nil {
		t.Fatal(err)
	}
	if code := call(t, key, "GET", api+"/api/v1/webhooks", "", nil); code != 401 {
		t.Fatalf("a revoked key answered %d", code)
	}
}
