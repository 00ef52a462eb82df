// Package secretbox encrypts the secrets Herald stores (webhook secrets,
// custom headers) with AES-256-GCM under a key from configuration, so that a
// copy of the database alone reveals none of them.
package secretbox

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// KeySize is the key length: AES-256.
const KeySize = 32

// prefix versions the sealed format so a future key rotation can tell
// values apart.
const prefix = "v1:"

var ErrOpen = errors.New("secretbox: cannot decrypt (wrong key or corrupted value)")

// Box seals and opens values under one key.
type Box struct{ aead cipher.AEAD }

// New returns a Box for a 32-byte key.
func New(key []byte) (*Box, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must be %d bytes, got %d", KeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &Box{aead: aead}, nil
}

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

// ParseKey decodes a base64 key as given in HERALD_SECRET_KEY.
func ParseKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("secretbox: key is not base64: %w", err)
	}
	if len(key) != KeySize {
		return nil, fmt.Errorf("secretbox: key must decode to %d bytes, got %d", KeySize, len(key))
	}
	return key, nil
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

// Seal encrypts plaintext with a fresh random nonce.
func (b *Box) Seal(plaintext string) string {
	nonce := make([]byte, b.aead.NonceSize(), b.aead.NonceSize()+len(plaintext)+b.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		panic(err)
	}
	return prefix + base64.StdEncoding.EncodeToString(b.aead.Seal(nonce, nonce, []byte(plaintext), nil))
}

// Open decrypts a value made by Seal.
func (b *Box) Open(sealed string) (string, error) {
	rest, ok := strings.CutPrefix(sealed, prefix)
	if !ok {
		return "", ErrOpen
	}
	raw, err := base64.StdEncoding.DecodeString(rest)
	if err != nil || len(raw) < b.aead.NonceSize() {
		return "", ErrOpen
	}
	n := b.aead.NonceSize()
	plain, err := b.aead.Open(nil, raw[:n], raw[n:], nil)
	if err != nil {
		return "", ErrOpen
	}
	return string(plain), nil
}
