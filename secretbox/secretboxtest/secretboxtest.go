// Package secretboxtest helps tests of stored secrets: it writes values in
// the format Herald used before key ids existed, which Seal no longer makes,
// to prove such values still open and get re-encrypted.
package secretboxtest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"testing"
)

// SealV1 seals plain under key in the v1 format ("v1:<base64 nonce|ciphertext>").
func SealV1(t testing.TB, key []byte, plain string) string {
	t.Helper()
	block, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	nonce := make([]byte, aead.NonceSize())
	rand.Read(nonce)
	return "v1:" + base64.StdEncoding.EncodeToString(aead.Seal(nonce, nonce, []byte(plain), nil))
}
