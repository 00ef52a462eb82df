package secretbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/secretbox"
)

func mustBox(t *testing.T) *secretbox.Box {
	t.Helper()
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealOpen(t *testing.T) {
	b := mustBox(t)
	for _, plain := range []string{"", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", strings.Repeat("x", 10000)} {
		s1, s2 := b.Seal(plain), b.Seal(plain)
		if s1 == s2 {
			t.Fatal("two seals of the same value are equal: nonce reused")
		}
		if plain != "" && strings.Contains(s1, plain) {
			t.Fatal("sealed value contains the plaintext")
		}
		got, err := b.Open(s1)
		if err != nil || got != plain {
			t.Fatalf("Open = %q, %v", got, err)
		}
	}
}

func TestOpenRejects(t *testing.T) {
	b, other := mustBox(t), mustBox(t)
	sealed := b.Seal("secret")
	tampered := []byte(sealed)
	tampered[len(tampered)-3] ^= 1
	for name, v := range map[string]string{
		"other key": other.Seal("secret"), "tampered": string(tampered), "plaintext": "secret", "no prefix": sealed[3:], "short": "v1:AAAA",
	} {
		if _, err := b.Open(v); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

func TestKeys(t *testing.T) {
	for _, bad := range []string{"", "not base64!", "AAAA"} {
		if _, err := secretbox.ParseKey(bad); err == nil {
			t.Errorf("ParseKey(%q) accepted", bad)
		}
	}
	path := filepath.Join(t.TempDir(), "sub", "secret.key")
	k1, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k2, err := secretbox.LoadOrCreateKeyFile(path)
	if err != nil || string(k1) != string(k2) {
		t.Fatalf("key changed across loads: %v", err)
	}
	fi, _ := os.Stat(path)
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", fi.Mode().Perm())
	}
}
