-- API keys: only a SHA-256 hash of each key is kept, found by the key's
-- public id; scopes say what a key may do.
CREATE TABLE api_keys (
    id           BIGSERIAL PRIMARY KEY,
    key_id       TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    key_hash     TEXT NOT NULL,
    scopes       TEXT NOT NULL,
    expires_at   TIMESTAMPTZ,
    created_at   TIMESTAMPTZ NOT NULL,
    last_used_at TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

-- Secret rotation: the secret a rotation replaced (sealed) stays valid,
-- and signs alongside the new one, until previous_secret_expires_at.
ALTER TABLE webhooks ADD COLUMN previous_secret TEXT NOT NULL DEFAULT '';
ALTER TABLE webhooks ADD COLUMN previous_secret_expires_at TIMESTAMPTZ;
