// Package storetest opens isolated stores for tests: a fresh PostgreSQL
// schema (dropped at cleanup) or a SQLite file of its own, as `herald dev`
// keeps (a writer and readers in WAL mode).
package storetest

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/eventtypes"
	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

// DefaultPostgresURL is the machine's PostgreSQL; HERALD_TEST_POSTGRES_URL
// overrides it.
const DefaultPostgresURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// Dialects lists what every store test runs against.
var Dialects = []string{schema.Postgres, schema.SQLite}

// MustURL returns a database URL of the dialect that no other test uses.
func MustURL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == schema.SQLite {
		return "sqlite:" + filepath.Join(t.TempDir(), "herald.db")
	}
	return MustPostgresSchema(t)
}

// RequirePostgres is the variable that makes a test fail, not skip, when
// the test PostgreSQL cannot be reached: `make test` and CI set it, so
// that only a laptop without PostgreSQL skips those tests.
const RequirePostgres = "HERALD_REQUIRE_POSTGRES"

// MustPostgresSchema is PostgresSchema for a test, dropped at cleanup. When
// no PostgreSQL answers it skips the test, saying so, unless
// RequirePostgres is set.
func MustPostgresSchema(t testing.TB) string {
	t.Helper()
	u, drop, err := PostgresSchema()
	if err != nil {
		if why := SkipWithout(err); why != "" {
			t.Skip(why)
		}
		t.Fatal(err)
	}
	t.Cleanup(drop)
	return u
}

// SkipWithout is why tests that need PostgreSQL skip after err, the
// failure to reach it: nothing listens there and RequirePostgres is not
// set. It is "" when they must fail instead.
func SkipWithout(err error) string {
	if os.Getenv(RequirePostgres) != "" || reachable(postgresBase()) {
		return ""
	}
	return fmt.Sprintf("skipped: no PostgreSQL at %s (set HERALD_TEST_POSTGRES_URL to another, or %s=1 to fail instead): %v",
		redacted(postgresBase()), RequirePostgres, err)
}

func postgresBase() string {
	if base := os.Getenv("HERALD_TEST_POSTGRES_URL"); base != "" {
		return base
	}
	return DefaultPostgresURL
}

// reachable says whether anything listens at the URL's host and port: a
// server that answers and refuses is a failure to report, not a skip.
func reachable(dbURL string) bool {
	u, err := url.Parse(dbURL)
	if err != nil {
		return false
	}
	host := u.Host
	if u.Port() == "" {
		host = net.JoinHostPort(u.Hostname(), "5432")
	}
	conn, err := net.DialTimeout("tcp", host, 2*time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func redacted(dbURL string) string {
	if u, err := url.Parse(dbURL); err == nil {
		return u.Redacted()
	}
	return "the test URL"
}

// PostgresSchema creates a fresh schema on the test PostgreSQL and returns a
// URL whose connections use it, and a function that drops it.
func PostgresSchema() (string, func(), error) {
	return store.PostgresSchema(postgresBase(), "herald_test_")
}

// MustOpen opens a migrated store of the dialect, closed at cleanup.
func MustOpen(t testing.TB, dialect string) *store.Store {
	t.Helper()
	return MustOpenAt(t, MustURL(t, dialect), secretbox.Ephemeral())
}

// MustOpenAt opens the store at dbURL, migrated, closed at cleanup: a second
// handle on one database shares its box to read the sealed secrets.
func MustOpenAt(t testing.TB, dbURL string, box *secretbox.Box) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dbURL, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// EventTypeCases is the store's part of operators' event types, for every
// dialect's store: definitions round-trip byte for byte, a second put
// replaces, a delete is gone, and the subscribers of a type are found.
func EventTypeCases(t *testing.T, s *store.Store) {
	ctx := context.Background()
	if defs, err := s.ListEventTypes(ctx); err != nil || len(defs) != 0 {
		t.Fatalf("fresh store lists %v, %v", defs, err)
	}
	// Key order and spacing inside are kept: the schema is served back as written.
	sch := json.RawMessage(`{"type":"object","required":["order_id"],"properties":{"order_id":{"type":"string"}, "amount":{"minimum":0}}}`)
	d := &eventtypes.Def{Name: "billing.invoice_paid", Description: "An invoice is paid", Schema: sch, Example: json.RawMessage(`{"order_id":"o1"}`)}
	if created, err := s.PutEventType(ctx, d); err != nil || !created || d.CreatedAt.IsZero() || !d.UpdatedAt.Equal(d.CreatedAt) {
		t.Fatalf("first put: created %v, %v, %+v", created, err, d)
	}
	got, err := s.GetEventType(ctx, d.Name)
	if err != nil || string(got.Schema) != string(sch) || string(got.Example) != `{"order_id":"o1"}` ||
		got.Description != d.Description || !got.CreatedAt.Equal(d.CreatedAt) {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	first := d.CreatedAt
	time.Sleep(2 * time.Millisecond)
	d2 := &eventtypes.Def{Name: d.Name, Description: "replaced", Schema: json.RawMessage(`{"type":"object"}`)}
	if created, err := s.PutEventType(ctx, d2); err != nil || created || !d2.CreatedAt.Equal(first) || !d2.UpdatedAt.After(first) {
		t.Fatalf("second put: created %v, %v, %+v", created, err, d2)
	}
	if got, _ := s.GetEventType(ctx, d.Name); got.Description != "replaced" || got.Example != nil || string(got.Schema) != `{"type":"object"}` {
		t.Fatalf("not replaced: %+v", got)
	}
	ext := &eventtypes.Def{Name: webhook.ComplianceAlert, Schema: json.RawMessage(`{"required":["tenant_id"]}`)}
	if _, err := s.PutEventType(ctx, ext); err != nil {
		t.Fatal(err)
	}
	defs, err := s.ListEventTypes(ctx)
	if err != nil || len(defs) != 2 || defs[0].Name != d.Name || defs[1].Name != webhook.ComplianceAlert {
		t.Fatalf("list: %v, %v", defs, err)
	}
	eventTypeSubscribers(t, s, d.Name)
	if err := s.DeleteEventType(ctx, d.Name); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GetEventType(ctx, d.Name); webhook.ErrorCode(err) != webhook.ENotFound {
		t.Fatalf("get after delete: %v", err)
	}
	if err := s.DeleteEventType(ctx, d.Name); webhook.ErrorCode(err) != webhook.ENotFound {
		t.Fatalf("second delete: %v", err)
	}
}

// eventTypeSubscribers checks that only subscriptions naming the type
// itself count: not "*", not a type whose name merely contains it.
func eventTypeSubscribers(t *testing.T, s *store.Store, name string) {
	ctx := context.Background()
	for _, sub := range []struct {
		name  string
		types []string
	}{{"named", []string{webhook.ComplianceAlert, name}}, {"everything", []string{webhook.AllEvents}},
		{"lookalike", []string{name + "_v2"}}, {"other", []string{webhook.ComplianceAlert}}} {
		w := webhook.New()
		w.Name, w.URL, w.Secret, w.EventTypes = sub.name, "https://example.com/"+sub.name, webhook.NewSecret(), sub.types
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
	}
	names, err := s.EventTypeSubscribers(ctx, name)
	if err != nil || !slices.Equal(names, []string{"named"}) {
		t.Fatalf("subscribers of %s: %v, %v", name, names, err)
	}
	if names, err := s.EventTypeSubscribers(ctx, "nothing.subscribes"); err != nil || names == nil || len(names) != 0 {
		t.Fatalf("subscribers of an unsubscribed type: %#v, %v", names, err)
	}
}
