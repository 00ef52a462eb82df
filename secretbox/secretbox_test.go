package secretbox_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/secretbox"

	"github.com/loki-interceptor/herald/secretbox/secretboxtest"
)

func mustBox(t *testing.T) *secretbox.Box {
	t.Helper()
	_, b := rawKey(t)
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

// rawKey returns a fresh key and a Box under it alone.
func rawKey(t *testing.T) ([]byte, *secretbox.Box) {
	t.Helper()
	key, err := secretbox.ParseKey(secretbox.NewKey())
	if err != nil {
		t.Fatal(err)
	}
	b, err := secretbox.New(key)
	if err != nil {
		t.Fatal(err)
	}
	return key, b
}

func TestSealFormat(t *testing.T) {
	key, b := rawKey(t)
	sum := sha256.Sum256(key)
	if id := hex.EncodeToString(sum[:4]); b.KeyID() != id {
		t.Fatalf("KeyID = %q, want %q", b.KeyID(), id)
	}
	again, _ := secretbox.New(key)
	if again.KeyID() != b.KeyID() {
		t.Fatal("KeyID differs between boxes of the same key")
	}
	if _, other := rawKey(t); other.KeyID() == b.KeyID() {
		t.Fatal("two random keys share an id")
	}
	sealed := b.Seal("x")
	if !strings.HasPrefix(sealed, "v2:"+b.KeyID()+":") {
		t.Fatalf("sealed %q lacks the v2 header", sealed)
	}
	if !b.Current(sealed) {
		t.Fatal("a fresh seal is not Current")
	}
}

func TestOpenV1(t *testing.T) {
	keyA, _ := rawKey(t)
	keyB, _ := rawKey(t)
	rotated, err := secretbox.NewWithOld(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	for name, key := range map[string][]byte{"primary": keyB, "old": keyA} {
		v1 := secretboxtest.SealV1(t, key, "legacy secret")
		got, err := rotated.Open(v1)
		if err != nil || got != "legacy secret" {
			t.Fatalf("%s: Open(v1) = %q, %v", name, got, err)
		}
		if rotated.Current(v1) {
			t.Fatalf("%s: a v1 value is Current", name)
		}
	}
	onlyB, _ := secretbox.New(keyB)
	if _, err := onlyB.Open(secretboxtest.SealV1(t, keyA, "legacy")); !errors.Is(err, secretbox.ErrOpen) {
		t.Fatalf("v1 under a key the box lacks: %v", err)
	}
}

func TestRotation(t *testing.T) {
	keyA, boxA := rawKey(t)
	keyB, boxB := rawKey(t)
	rotated, err := secretbox.NewWithOld(keyB, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID() != boxB.KeyID() {
		t.Fatal("the first key is not the primary")
	}
	underA := boxA.Seal("old secret")
	got, err := rotated.Open(underA)
	if err != nil || got != "old secret" {
		t.Fatalf("Open(old key's value) = %q, %v", got, err)
	}
	if rotated.Current(underA) {
		t.Fatal("a value under an old key is Current")
	}
	resealed := rotated.Seal(got)
	if !strings.HasPrefix(resealed, "v2:"+boxB.KeyID()+":") || !rotated.Current(resealed) {
		t.Fatalf("reseal %q is not under the primary", resealed)
	}
	if got, err := boxB.Open(resealed); err != nil || got != "old secret" {
		t.Fatalf("new key alone: %q, %v", got, err)
	}
	_, err = boxB.Open(underA)
	if !errors.Is(err, secretbox.ErrOpen) || !strings.Contains(err.Error(), boxA.KeyID()) {
		t.Fatalf("missing key: %v, want ErrOpen naming %s", err, boxA.KeyID())
	}
}

func TestNewWithOldKeys(t *testing.T) {
	keyA, boxA := rawKey(t)
	// The primary repeated among the old keys (HERALD_SECRET_KEY="k,k")
	// is harmless.
	same, err := secretbox.NewWithOld(keyA, keyA, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := same.Open(boxA.Seal("s")); err != nil || got != "s" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := secretbox.NewWithOld(keyA, keyA[:16]); err == nil {
		t.Fatal("a short old key was accepted")
	}
	if _, err := secretbox.NewWithOld(nil, keyA); err == nil {
		t.Fatal("a missing primary was accepted")
	}
}

func TestTamperFails(t *testing.T) {
	keyA, boxA := rawKey(t)
	keyB, boxB := rawKey(t)
	both, _ := secretbox.NewWithOld(keyB, keyA)
	sealed := boxA.Seal("secret")
	body := strings.TrimPrefix(sealed, "v2:"+boxA.KeyID()+":")
	flipped := []byte(sealed)
	flipped[len(flipped)-3] ^= 1
	for name, v := range map[string]string{
		// Relabelled under a key the box holds: the id is authenticated,
		// so the other key does not open it either.
		"key id swapped": "v2:" + boxB.KeyID() + ":" + body,
		"key id unknown": "v2:00000000:" + body,
		"key id short":   "v2:" + boxA.KeyID()[:7] + ":" + body,
		"no key id":      "v2:" + body,
		"downgraded":     "v1:" + body,
		"ciphertext":     string(flipped),
		"truncated":      sealed[:len(sealed)-4],
		"not base64":     "v2:" + boxA.KeyID() + ":!!!!",
		"unknown format": "v3:" + boxA.KeyID() + ":" + body,
	} {
		if got, err := both.Open(v); !errors.Is(err, secretbox.ErrOpen) {
			t.Errorf("%s: Open = %q, %v; want ErrOpen", name, got, err)
		}
		if both.Current(v) {
			t.Errorf("%s: Current", name)
		}
	}
}

func TestParseKeys(t *testing.T) {
	k1, k2, k3 := secretbox.NewKey(), secretbox.NewKey(), secretbox.NewKey()
	tests := []struct {
		in      string
		want    []string // primary first
		wantErr string
	}{
		{in: k1, want: []string{k1}},
		{in: k1 + "," + k2, want: []string{k1, k2}},
		{in: " " + k1 + " ,\n" + k2 + "," + k3 + "\n", want: []string{k1, k2, k3}},
		{in: "", wantErr: "key 1 of 1 is empty"},
		{in: k1 + ",", wantErr: "key 2 of 2 is empty"},
		{in: k1 + ",not base64!", wantErr: "key 2 of 2 is not base64"},
		{in: "AAAA," + k2, wantErr: "key 1 of 2 must decode to 32 bytes, got 3"},
	}
	for _, tt := range tests {
		primary, old, err := secretbox.ParseKeys(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseKeys(%q) error %v, want %q", tt.in, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseKeys(%q): %v", tt.in, err)
			continue
		}
		got := []string{base64.StdEncoding.EncodeToString(primary)}
		for _, k := range old {
			got = append(got, base64.StdEncoding.EncodeToString(k))
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ParseKeys(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

// Errors about keys must not echo them: a log line must not leak a key.
func TestErrorsHideKeys(t *testing.T) {
	good := secretbox.NewKey()
	bad := strings.Repeat("Zm9v", 8) + "!" // valid base64 then one bad byte
	short := base64.StdEncoding.EncodeToString([]byte("sixteen byte key"))
	for _, in := range []string{bad, short, good + "," + bad, good + "," + short} {
		_, _, err := secretbox.ParseKeys(in)
		if err == nil {
			t.Fatalf("ParseKeys accepted %q", in)
		}
		for _, secret := range []string{good, bad[:16], short} {
			if strings.Contains(err.Error(), secret) {
				t.Fatalf("error %q contains key material", err)
			}
		}
	}
	_, b := rawKey(t)
	sealed := b.Seal("plaintext-canary")
	_, err := secretbox.Ephemeral().Open(sealed)
	if err == nil || strings.Contains(err.Error(), "plaintext-canary") {
		t.Fatalf("Open error %v", err)
	}
}
