package store_test

import (
	"testing"
	"time"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/store"
	"github.com/loki-interceptor/herald/webhook"
)

func TestAPIKeys(t *testing.T) {
	forEachDialect(t, func(t *testing.T, s *store.Store) {
		exp := time.Now().Add(time.Hour).UTC().Truncate(time.Microsecond)
		secret, k := apikey.New("source", []apikey.Scope{apikey.Events, apikey.Read}, &exp)
		if err := s.CreateAPIKey(ctx, k); err != nil {
			t.Fatal(err)
		}
		var hash string
		if err := s.DB().QueryRow(s.DB().Rebind(`SELECT key_hash FROM api_keys WHERE id = ?`), k.ID).Scan(&hash); err != nil || hash != apikey.Hash(secret) {
			t.Fatalf("stored %q (%v), want the key's hash", hash, err)
		}
		got, err := s.APIKey(ctx, k.KeyID)
		if err != nil || !got.Matches(secret) || !got.ExpiresAt.Equal(exp) || len(got.Scopes) != 2 || got.Scopes[0] != apikey.Events {
			t.Fatalf("read back %+v %v", got, err)
		}
		if n := usableKeys(t, s); n != 1 {
			t.Fatalf("usable keys %d", n)
		}
		if err := s.TouchAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.APIKey(ctx, k.KeyID); got.LastUsedAt == nil {
			t.Fatal("last use not recorded")
		}
		if err := s.RevokeAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		got, _ = s.APIKey(ctx, k.KeyID)
		if got.Usable(time.Now()) == "" {
			t.Fatal("revoked key still usable")
		}
		if n := usableKeys(t, s); n != 0 {
			t.Fatalf("usable keys after revoking %d", n)
		}
		wantCode(t, s.RevokeAPIKey(ctx, 999), webhook.ENotFound)
		_, err = s.APIKey(ctx, "nope")
		wantCode(t, err, webhook.ENotFound)
		if keys, err := s.ListAPIKeys(ctx); err != nil || len(keys) != 1 {
			t.Fatalf("list %v %v", keys, err)
		}
	})
}

// usableKeys counts the stored keys, as read back, that may be used now.
func usableKeys(t *testing.T, s *store.Store) int {
	t.Helper()
	keys, err := s.ListAPIKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, k := range keys {
		if k.Usable(time.Now()) == "" {
			n++
		}
	}
	return n
}
