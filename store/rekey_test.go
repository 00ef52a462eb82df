package store_test

import (
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/loki-interceptor/herald/schema"
	"github.com/loki-interceptor/herald/secretbox"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/store/storetest"
	"github.com/loki-interceptor/herald/webhook"

	"github.com/loki-interceptor/herald/secretbox/secretboxtest"
)

// sealedColumns mirrors the store's list, to read what is at rest.
var sealedColumns = []string{"secret", "custom_headers", "credentials"}

// forEachDialectURL is forEachDialect for tests that open one database
// several times under different keys, so need its URL rather than a store.
// SQLite gets a file: every sqlite::memory: open is a new database.
func forEachDialectURL(t *testing.T, fn func(t *testing.T, url string)) {
	for _, d := range storetest.Dialects {
		t.Run(d, func(t *testing.T) {
			t.Parallel()
			if d == schema.SQLite {
				fn(t, "sqlite:"+filepath.Join(t.TempDir(), "herald.db"))
				return
			}
			fn(t, storetest.MustURL(t, d))
		})
	}
}

// newKey returns a fresh raw key.
func newKey(t *testing.T) []byte {
	t.Helper()
	k, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func mustBoxOf(t *testing.T, key []byte, old ...[]byte) *secretbox.Box {
	t.Helper()
	b, err := secretbox.NewWithOld(key, old...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openWith opens (and migrates) the database at url with box, closed at
// cleanup.
func openWith(t *testing.T, url string, box *secretbox.Box) *store.Store {
	t.Helper()
	s, err := store.Open(ctx, url, box)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if _, err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	return s
}

// atRest reads a row's sealed columns as stored.
func atRest(t *testing.T, s *store.Store, id int64) map[string]string {
	t.Helper()
	vals := make([]string, len(sealedColumns))
	targets := make([]any, len(vals))
	for i := range vals {
		targets[i] = &vals[i]
	}
	q := `SELECT ` + strings.Join(sealedColumns, ", ") + ` FROM webhooks WHERE id = ?`
	if err := s.DB().QueryRow(s.DB().Rebind(q), id).Scan(targets...); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for i, col := range sealedColumns {
		out[col] = vals[i]
	}
	return out
}

func setAtRest(t *testing.T, s *store.Store, id int64, col, v string) {
	t.Helper()
	if _, err := s.DB().Exec(s.DB().Rebind(`UPDATE webhooks SET `+col+` = ? WHERE id = ?`), v, id); err != nil {
		t.Fatal(err)
	}
}

func TestReencrypt(t *testing.T) {
	forEachDialectURL(t, func(t *testing.T, url string) {
		keyA, keyB := newKey(t), newKey(t)
		underA := openWith(t, url, mustBoxOf(t, keyA))
		// More rows than one batch, so the walk crosses a batch boundary.
		var want []*webhook.Webhook
		for i := range 103 {
			want = append(want, mustWebhook(t, underA, fmt.Sprintf("hook-%03d", i), "*"))
		}
		want = append(want, mustIntegration(t, underA, "Slack Alerts", "slack"))
		// A value from before key ids: re-encryption upgrades it too.
		legacy := want[1]
		setAtRest(t, underA, legacy.ID, "secret", secretboxtest.SealV1(t, keyA, legacy.Secret))

		rotated := openWith(t, url, mustBoxOf(t, keyB, keyA))
		// A row written after the rotation began is already current.
		fresh := mustWebhook(t, rotated, "fresh", "*")
		n, err := rotated.Reencrypt(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Fatalf("Reencrypt changed %d rows, want %d", n, len(want))
		}

		idB := mustBoxOf(t, keyB).KeyID()
		for _, w := range append(want, fresh) {
			for col, v := range atRest(t, rotated, w.ID) {
				if col == "credentials" && w.Integration == nil {
					if v != "" {
						t.Errorf("webhook %d: empty credentials became %q", w.ID, v)
					}
					continue
				}
				if !strings.HasPrefix(v, "v2:"+idB+":") {
					t.Errorf("webhook %d %s = %q, want under key %s", w.ID, col, v, idB)
				}
			}
		}

		onlyB := openWith(t, url, mustBoxOf(t, keyB))
		for _, w := range want {
			got, err := onlyB.GetWebhook(ctx, w.ID)
			if err != nil {
				t.Fatal(err)
			}
			if got.Secret != w.Secret || !reflect.DeepEqual(got.CustomHeaders, w.CustomHeaders) || !reflect.DeepEqual(got.Integration, w.Integration) {
				t.Fatalf("webhook %d changed under re-encryption:\n got %+v\nwant %+v", w.ID, got, w)
			}
		}

		if n, err := rotated.Reencrypt(ctx); err != nil || n != 0 {
			t.Fatalf("second Reencrypt changed %d rows, %v", n, err)
		}
		onlyA := openWith(t, url, mustBoxOf(t, keyA))
		for _, w := range []*webhook.Webhook{want[0], legacy, want[len(want)-1]} {
			if _, err := onlyA.GetWebhook(ctx, w.ID); err == nil {
				t.Fatalf("webhook %d still opens under the retired key", w.ID)
			}
		}
	})
}

// A value no key opens stops the run with an error that names where it is
// and not what it is; rows before it stay re-encrypted.
func TestReencryptUnopenable(t *testing.T) {
	forEachDialectURL(t, func(t *testing.T, url string) {
		keyA, keyB := newKey(t), newKey(t)
		underA := openWith(t, url, mustBoxOf(t, keyA))
		first := mustWebhook(t, underA, "first", "*")
		bad := mustWebhook(t, underA, "bad", "*")
		unknown := secretbox.Ephemeral().Seal("hidden-plaintext")
		setAtRest(t, underA, bad.ID, "custom_headers", unknown)

		box := mustBoxOf(t, keyB, keyA)
		rotated := openWith(t, url, box)
		_, err := rotated.Reencrypt(ctx)
		if err == nil {
			t.Fatal("Reencrypt accepted a value no key opens")
		}
		where := fmt.Sprintf("webhooks.custom_headers of row %d", bad.ID)
		if !strings.Contains(err.Error(), where) || strings.Contains(err.Error(), unknown) || strings.Contains(err.Error(), "hidden-plaintext") {
			t.Fatalf("error %q: want it to name %q and not the value", err, where)
		}
		// The failed batch rolled back whole; fixing the value and running
		// again finishes the job.
		if box.Current(atRest(t, rotated, first.ID)["secret"]) {
			t.Fatal("a failed batch was partly written")
		}
		setAtRest(t, rotated, bad.ID, "custom_headers", box.Seal("{}"))
		if n, err := rotated.Reencrypt(ctx); err != nil || n != 2 {
			t.Fatalf("Reencrypt after the fix changed %d rows, %v; want 2", n, err)
		}
	})
}

// Herald keeps writing while the rows are re-encrypted, from another
// process (another Store): no update is lost or refused (on SQLite every
// transaction takes the write lock first and waits its turn) and every
// value ends up under the new key.
func TestReencryptWhileRunning(t *testing.T) {
	forEachDialectURL(t, func(t *testing.T, url string) {
		keyA, keyB := newKey(t), newKey(t)
		underA := openWith(t, url, mustBoxOf(t, keyA))
		var ids []int64
		secrets := map[int64]string{} // what each webhook's secret must be
		for i := range 40 {
			w := mustWebhook(t, underA, fmt.Sprintf("busy-%02d", i), "*")
			ids, secrets[w.ID] = append(ids, w.ID), w.Secret
		}
		herald := openWith(t, url, mustBoxOf(t, keyB, keyA))
		rekey := openWith(t, url, mustBoxOf(t, keyB, keyA))

		var mu sync.Mutex
		var wg sync.WaitGroup
		wg.Go(func() {
			if _, err := rekey.Reencrypt(ctx); err != nil {
				t.Errorf("Reencrypt: %v", err)
			}
		})
		for _, id := range ids {
			wg.Go(func() {
				updated := fmt.Sprintf("whsec_updated_%d", id)
				_, err := herald.UpdateWebhook(ctx, id, func(w *webhook.Webhook) error {
					w.Secret = updated
					return nil
				})
				if err != nil {
					t.Errorf("update %d: %v", id, err)
					return
				}
				mu.Lock()
				secrets[id] = updated
				mu.Unlock()
			})
		}
		wg.Wait()
		if n, err := rekey.Reencrypt(ctx); err != nil || n != 0 {
			t.Fatalf("rows left behind: %d, %v", n, err)
		}
		onlyB := openWith(t, url, mustBoxOf(t, keyB))
		for id, secret := range secrets {
			w, err := onlyB.GetWebhook(ctx, id)
			if err != nil || w.Secret != secret {
				t.Fatalf("webhook %d: %v, secret lost", id, err)
			}
		}
	})
}
