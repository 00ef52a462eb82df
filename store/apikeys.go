package store

import (
	"context"
	"strings"
	"time"

	"github.com/loki-interceptor/herald/apikey"
)

type apiKeyRow struct {
	ID         int64      `db:"id"`
	KeyID      string     `db:"key_id"`
	Name       string     `db:"name"`
	Hash       string     `db:"key_hash"`
	Scopes     string     `db:"scopes"`
	ExpiresAt  *time.Time `db:"expires_at"`
	CreatedAt  time.Time  `db:"created_at"`
	LastUsedAt *time.Time `db:"last_used_at"`
	RevokedAt  *time.Time `db:"revoked_at"`
}

const apiKeyColumns = `id, key_id, name, key_hash, scopes, expires_at, created_at, last_used_at, revoked_at`

func (r *apiKeyRow) key() *apikey.Key {
	k := &apikey.Key{ID: r.ID, KeyID: r.KeyID, Name: r.Name, Hash: r.Hash, ExpiresAt: utcPtr(r.ExpiresAt),
		CreatedAt: r.CreatedAt.UTC(), LastUsedAt: utcPtr(r.LastUsedAt), RevokedAt: utcPtr(r.RevokedAt)}
	for _, s := range strings.Split(r.Scopes, ",") {
		k.Scopes = append(k.Scopes, apikey.Scope(s))
	}
	return k
}

// CreateAPIKey stores a key's hash and details, setting its ID and CreatedAt.
func (s *Store) CreateAPIKey(ctx context.Context, k *apikey.Key) error {
	k.CreatedAt = s.now()
	scopes := make([]string, len(k.Scopes))
	for i, sc := range k.Scopes {
		scopes[i] = string(sc)
	}
	return s.db.QueryRowxContext(ctx, s.db.Rebind(`INSERT INTO api_keys (key_id, name, key_hash, scopes, expires_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?) RETURNING id`), k.KeyID, k.Name, k.Hash, strings.Join(scopes, ","), dbTime(k.ExpiresAt), k.CreatedAt).Scan(&k.ID)
}

// APIKey finds a key by its public id.
func (s *Store) APIKey(ctx context.Context, keyID string) (*apikey.Key, error) {
	return getOne(ctx, s, (*apiKeyRow).key, "API key %q not found", `SELECT `+apiKeyColumns+` FROM api_keys WHERE key_id = ?`, keyID)
}

// ListAPIKeys lists every key, revoked ones too, oldest first.
func (s *Store) ListAPIKeys(ctx context.Context) ([]*apikey.Key, error) {
	return selectAll(ctx, s, (*apiKeyRow).key, `SELECT `+apiKeyColumns+` FROM api_keys ORDER BY id`)
}

// RevokeAPIKey revokes a key for good; revoking it again changes nothing.
func (s *Store) RevokeAPIKey(ctx context.Context, id int64) error {
	res, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_keys SET revoked_at = COALESCE(revoked_at, ?) WHERE id = ?`), s.now(), id)
	return changed(res, err, "API key %d not found", id)
}

// TouchAPIKey records that a key was used, at most once a minute per key
// so that reads do not each cost a write.
func (s *Store) TouchAPIKey(ctx context.Context, id int64) error {
	now := s.now()
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_keys SET last_used_at = ?
		WHERE id = ? AND (last_used_at IS NULL OR last_used_at < ?)`), now, id, now.Add(-time.Minute))
	return err
}
