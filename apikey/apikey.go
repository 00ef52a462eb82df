// Package apikey holds Herald's API keys: how they are made, recognised
// and checked, and what each scope allows. Only a key's SHA-256 hash is
// stored: a key is 32 random bytes, so a hash cannot be reversed by guessing.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Scope is what a key may do.
type Scope string

const (
	// Read allows every GET.
	Read Scope = "read"
	// Write allows changing webhooks and integrations, publishing events,
	// retries and tests, and everything Read allows.
	Write Scope = "write"
	// Events allows only publishing events: the key for an event source.
	Events Scope = "events"
	// Admin allows everything, managing API keys included.
	Admin Scope = "admin"
)

// Scopes lists them in a fixed order, for messages.
var Scopes = []Scope{Read, Write, Events, Admin}

func (s Scope) Valid() bool { return slices.Contains(Scopes, s) }

// Key is a stored API key: never the key itself, only its hash.
type Key struct {
	ID         int64      `json:"id"`
	KeyID      string     `json:"key_id"` // the public part, shown in the key's prefix
	Name       string     `json:"name"`
	Hash       string     `json:"-"`
	Scopes     []Scope    `json:"scopes"`
	ExpiresAt  *time.Time `json:"expires_at"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// Prefix begins every key, so that a leaked one is easy to recognise (and
// for secret scanners to find).
const Prefix = "hrld_"

// New makes a key: the secret to show once, and its stored form.
func New(name string, scopes []Scope, expires *time.Time) (secret string, k *Key) {
	id := make([]byte, 6)
	body := make([]byte, 32)
	if _, err := rand.Read(id); err != nil {
		panic(err)
	}
	if _, err := rand.Read(body); err != nil {
		panic(err)
	}
	keyID := hex.EncodeToString(id)
	secret = Prefix + keyID + "_" + base64.RawURLEncoding.EncodeToString(body)
	return secret, &Key{KeyID: keyID, Name: name, Hash: Hash(secret), Scopes: scopes, ExpiresAt: expires}
}

// Hash is the stored form of a key.
func Hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// ParseID returns the public id inside a key, or false when it is not one.
func ParseID(secret string) (string, bool) {
	rest, ok := strings.CutPrefix(secret, Prefix)
	if !ok || len(rest) != 12+1+43 || rest[12] != '_' {
		return "", false
	}
	return rest[:12], true
}

// Matches compares a presented key with the stored hash in constant time.
func (k *Key) Matches(secret string) bool {
	return subtle.ConstantTimeCompare([]byte(Hash(secret)), []byte(k.Hash)) == 1
}

// Usable says why a key cannot be used now, or "" when it can.
func (k *Key) Usable(now time.Time) string {
	switch {
	case k.RevokedAt != nil:
		return "the API key was revoked"
	case k.ExpiresAt != nil && !now.Before(*k.ExpiresAt):
		return "the API key expired at " + k.ExpiresAt.UTC().Format(time.RFC3339)
	}
	return ""
}

// Allows reports whether the key's scopes cover need.
func (k *Key) Allows(need Scope) bool {
	for _, s := range k.Scopes {
		switch {
		case s == Admin, s == need:
			return true
		case s == Write && (need == Read || need == Events):
			return true
		}
	}
	return false
}

// ParseScopes reads a comma-separated list, as the CLI takes it.
func ParseScopes(s string) ([]Scope, error) {
	var out []Scope
	for _, part := range strings.Split(s, ",") {
		sc := Scope(strings.TrimSpace(part))
		if !sc.Valid() {
			return nil, fmt.Errorf("unknown scope %q (scopes: read, write, events, admin)", sc)
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	return out, nil
}
