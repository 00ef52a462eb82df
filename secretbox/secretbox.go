// Package secretbox encrypts the secrets Herald stores (webhook secrets,
// custom headers, integration credentials) with AES-256-GCM under a key from
// configuration, so that a copy of the database alone reveals none of them.
//
// Keys can be rotated: a Box seals under its primary key and opens values
// sealed under any of its older keys, and every sealed value names the key it
// was sealed under, so the store can find and re-seal values still under an
// old key (store.Reencrypt) before that key is retired.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// Sealed formats. v1 (before rotation existed) names no key, so opening it
// means trying every key; v2 names its key after the version:
//
//	v1:<base64(nonce|ciphertext)>
//	v2:<keyid>:<base64(nonce|ciphertext)>
const (
	v1Prefix = "v1:"
	v2Prefix = "v2:"
)

// keyIDLen is the number of hex characters of a key id.
const keyIDLen = 8

// ErrOpen is the only error Open returns, possibly wrapped with the id of a
// key the box lacks; it never carries key material or plaintext.
var ErrOpen = errors.New("secretbox: cannot decrypt (wrong key or corrupted value)")

// Box seals values under its primary key and opens values sealed under any
// of its keys. It is safe for concurrent use.
type Box struct {
	primary *boxKey
	// keys holds the primary key first, then the old keys, in the order
	// given, without duplicates.
	keys []*boxKey
}

type boxKey struct {
	id string
	// sum is the key's SHA-256, kept to tell keys apart without keeping
	// the key itself.
	sum  [sha256.Size]byte
	aead cipher.AEAD
}

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) { return NewWithOld(key) }

// NewWithOld returns a Box sealing under key and also opening values sealed
// under any of old. During a rotation every Herald process runs with the new
// key as primary and the retired one in old, until store.Reencrypt has
// re-sealed everything under the new one.
func NewWithOld(key []byte, old ...[]byte) (*Box, error) {
	primary, err := newBoxKey(key, "key")
	if err != nil {
		return nil, err
	}
	b := &Box{primary: primary, keys: []*boxKey{primary}}
	for i, k := range old {
		bk, err := newBoxKey(k, fmt.Sprintf("old key %d", i+1))
		if err != nil {
			return nil, err
		}
		if err := b.add(bk); err != nil {
			return nil, err
		}
	}
	return b, nil
}

// add appends an old key unless the box already holds it. Two different
// keys with the same id (a 1 in 2^32 chance) are refused: a v2 value must
// name exactly one key, or Current could not tell them apart.
func (b *Box) add(bk *boxKey) error {
	for _, have := range b.keys {
		switch {
		case have.sum == bk.sum:
			return nil
		case have.id == bk.id:
			return fmt.Errorf("secretbox: two keys share the key id %s; generate another key", bk.id)
		}
	}
	b.keys = append(b.keys, bk)
	return nil
}

func newBoxKey(key []byte, what string) (*boxKey, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: %s must be %d bytes, got %d", what, KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(key)
	return &boxKey{id: hex.EncodeToString(sum[:])[:keyIDLen], sum: sum, aead: aead}, nil
}

// A key's id is the first 8 hex characters (32 bits) of its SHA-256. That is
// safe to store next to the ciphertext: SHA-256 is preimage resistant, and 32
// bits about a uniformly random 256-bit key still leave 2^224 keys that fit,
// so the id only lets someone confirm a guessed key, which a ciphertext
// already allows and which is hopeless at 2^256 guesses.

// KeyID is the id of the box's primary key.
func (b *Box) KeyID() string { return b.primary.id }

// Ephemeral returns a Box under a random key that dies with the process,
// for data that must not outlive it.
func Ephemeral() *Box {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	b, err := New(key)
	if err != nil {
		panic(err)
	}
	return b
}

// ParseKey decodes a base64 key as given in HERALD_ENCRYPTION_KEY.
func ParseKey(s string) ([]byte, error) {
	key, err := decodeKey(s)
	if err != nil {
		return nil, fmt.Errorf("secretbox: key %w", err)
	}
	return key, nil
}

// decodeKey's errors are the end of a sentence about the key ("… is not
// base64"), so ParseKey and ParseKeys can say which key they mean.
func decodeKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		// The decoder's error names a byte offset, never the input.
		return nil, fmt.Errorf("is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("must decode to %d bytes, got %d", KeySize, len(key))
	}
	return key, nil
}

// ParseKeys parses a comma-separated list of base64 keys: the first is the
// primary, the rest old keys (for HERALD_ENCRYPTION_KEY="new,old" during a
// rotation). Errors say which key of the list is wrong by position, never
// by content.
func ParseKeys(s string) (primary []byte, old [][]byte, err error) {
	parts := strings.Split(s, ",")
	keys := make([][]byte, 0, len(parts))
	for i, p := range parts {
		if strings.TrimSpace(p) == "" {
			return nil, nil, fmt.Errorf("secretbox: key %d of %d is empty", i+1, len(parts))
		}
		k, err := decodeKey(p)
		if err != nil {
			return nil, nil, fmt.Errorf("secretbox: key %d of %d %w", i+1, len(parts), err)
		}
		keys = append(keys, k)
	}
	return keys[0], keys[1:], nil
}

// NewKey returns a random key, base64-encoded.
func NewKey() string {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(key)
}

// LoadOrCreateKeyFile reads the key kept at path, creating it (mode 0600) on
// first use. `herald dev` keeps its key this way in its data directory.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		b = []byte(NewKey() + "\n")
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		if _, err := f.Write(b); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	return ParseKey(string(b))
}

// Seal encrypts plaintext under the primary key with a fresh random nonce,
// in the v2 format. The header "v2:<keyid>" is the GCM additional data, so
// the value cannot be passed off as sealed under another key or format.
func (b *Box) Seal(plaintext string) string {
	header := v2Prefix + b.primary.id
	return header + ":" + b.primary.seal(plaintext, header)
}

// Open decrypts a value made by Seal under any of the box's keys, in either
// format.
func (b *Box) Open(sealed string) (string, error) {
	plain, _, err := b.open(sealed)
	return plain, err
}

// Current reports whether a sealed value is sealed under the primary key in
// the current format, so needs no re-encryption. It opens the value rather
// than trusting its header, so a corrupted value is never called current.
func (b *Box) Current(sealed string) bool {
	if !strings.HasPrefix(sealed, v2Prefix) {
		return false
	}
	_, k, err := b.open(sealed)
	return err == nil && k == b.primary
}

// Reseal returns sealed as it should be stored now: unchanged (changed
// false) when it is already under the primary key in the current format,
// else re-sealed under it. It opens the value once either way.
func (b *Box) Reseal(sealed string) (resealed string, changed bool, err error) {
	plain, k, err := b.open(sealed)
	if err != nil {
		return "", false, err
	}
	if k == b.primary && strings.HasPrefix(sealed, v2Prefix) {
		return sealed, false, nil
	}
	return b.Seal(plain), true, nil
}

// open decrypts sealed and says which key opened it.
func (b *Box) open(sealed string) (string, *boxKey, error) {
	if rest, ok := strings.CutPrefix(sealed, v1Prefix); ok {
		return b.openV1(rest)
	}
	if rest, ok := strings.CutPrefix(sealed, v2Prefix); ok {
		return b.openV2(rest)
	}
	return "", nil, ErrOpen
}

// openV1 tries every key: v1 values do not say which one sealed them.
func (b *Box) openV1(body string) (string, *boxKey, error) {
	for _, k := range b.keys {
		if plain, err := k.open(body, ""); err == nil {
			return plain, k, nil
		}
	}
	return "", nil, ErrOpen
}

// openV2 opens with the key the value names. The id is authenticated as
// additional data, so a value relabelled with another id fails here even if
// the box holds a key with that id.
func (b *Box) openV2(rest string) (string, *boxKey, error) {
	id, body, ok := strings.Cut(rest, ":")
	if !ok || len(id) != keyIDLen {
		return "", nil, ErrOpen
	}
	for _, k := range b.keys {
		if k.id != id {
			continue
		}
		plain, err := k.open(body, v2Prefix+id)
		if err != nil {
			return "", nil, ErrOpen
		}
		return plain, k, nil
	}
	// The id is no secret and tells an operator which key to add back.
	return "", nil, fmt.Errorf("%w: no key with id %s", ErrOpen, id)
}

// seal returns base64(nonce|ciphertext), authenticating ad alongside.
func (k *boxKey) seal(plaintext, ad string) string {
	n := k.aead.NonceSize()
	nonce := make([]byte, n, n+len(plaintext)+k.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(k.aead.Seal(nonce, nonce, []byte(plaintext), []byte(ad)))
}

// open reverses seal; any failure is ErrOpen, so callers learn nothing
// about why.
func (k *boxKey) open(body, ad string) (string, error) {
	raw, err := base64.StdEncoding.DecodeString(body)
	n := k.aead.NonceSize()
	if err != nil || len(raw) < n {
		return "", ErrOpen
	}
	// v1 passes ad "": GCM treats empty additional data as none, as v1
	// sealed it.
	plain, err := k.aead.Open(nil, raw[:n], raw[n:], []byte(ad))
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
