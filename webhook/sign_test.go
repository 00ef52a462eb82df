package webhook_test

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// The Standard Webhooks specification's published test vector.
func TestSignStandardVector(t *testing.T) {
	const (
		secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
		msgID  = "msg_p5jXN8AQM9LWM0D4loKWxJek"
		want   = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
	)
	body := []byte(`{"test": 2432232314}`)
	ts := time.Unix(1614265330, 0)
	if got := webhook.SignStandard(secret, msgID, ts, body); got != want {
		t.Fatalf("SignStandard = %s, want %s", got, want)
	}
	if err := webhook.VerifyStandard(secret, msgID, "1614265330", body, "v1,bogus "+want, ts.Add(time.Minute), webhook.DefaultTolerance); err != nil {
		t.Fatalf("VerifyStandard of the vector: %v", err)
	}
}

func TestVerifyStandardRejects(t *testing.T) {
	secret := webhook.NewSecret()
	body := []byte(`{"a":1}`)
	now := time.Unix(1_700_000_000, 0)
	sig := webhook.SignStandard(secret, "evt_1", now, body)
	ts := "1700000000"
	tests := []struct {
		name                 string
		secret, id, ts, sigs string
		body                 string
		now                  time.Time
		want                 error
	}{
		{"valid", secret, "evt_1", ts, sig, `{"a":1}`, now, nil},
		{"other secret", webhook.NewSecret(), "evt_1", ts, sig, `{"a":1}`, now, webhook.ErrBadSignature},
		{"other id", secret, "evt_2", ts, sig, `{"a":1}`, now, webhook.ErrBadSignature},
		{"body changed", secret, "evt_1", ts, sig, `{"a":2}`, now, webhook.ErrBadSignature},
		{"too old", secret, "evt_1", ts, sig, `{"a":1}`, now.Add(6 * time.Minute), webhook.ErrTimestampSkew},
		{"from the future", secret, "evt_1", ts, sig, `{"a":1}`, now.Add(-6 * time.Minute), webhook.ErrTimestampSkew},
		{"timestamp not a number", secret, "evt_1", "yesterday", sig, `{"a":1}`, now, webhook.ErrTimestampInvalid},
		{"missing", secret, "evt_1", ts, "", `{"a":1}`, now, webhook.ErrNoSignature},
		{"v2 only", secret, "evt_1", ts, strings.Replace(sig, "v1,", "v2,", 1), `{"a":1}`, now, webhook.ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := webhook.VerifyStandard(tt.secret, tt.id, tt.ts, []byte(tt.body), tt.sigs, tt.now, webhook.DefaultTolerance)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

// Sign must agree with the LOKI guide's Python receiver:
// hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest().
func TestSignMatchesGuideReceiver(t *testing.T) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event_id":"e1","data":{}}`)
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	want := "sha256=" + hex.EncodeToString(m.Sum(nil))
	if got := webhook.Sign(secret, body); got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
	for _, header := range []string{want, strings.TrimPrefix(want, "sha256=")} {
		if err := webhook.Verify(secret, body, header); err != nil {
			t.Fatalf("Verify(%q): %v", header, err)
		}
	}
	for _, bad := range []string{"", "sha256=", "sha256=zz", webhook.Sign("other-secret-of-enough-length", body)} {
		if err := webhook.Verify(secret, body, bad); err == nil {
			t.Fatalf("Verify(%q) accepted a bad signature", bad)
		}
	}
}

func TestVerifyHeaders(t *testing.T) {
	secret := webhook.NewSecret()
	body := []byte(`{"x":true}`)
	now := time.Now()
	h := http.Header{}
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, body))
	h.Set(webhook.HeaderStdID, "evt_9")
	h.Set(webhook.HeaderStdTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhook.HeaderStdSignature, webhook.SignStandard(secret, "evt_9", now, body))
	if err := webhook.VerifyHeaders(secret, h, body, now); err != nil {
		t.Fatalf("VerifyHeaders: %v", err)
	}
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, []byte("tampered")))
	if err := webhook.VerifyHeaders(secret, h, body, now); !errors.Is(err, webhook.ErrBadSignature) {
		t.Fatalf("tampered X-Webhook-Signature: %v", err)
	}
}

func TestNewSecret(t *testing.T) {
	a, b := webhook.NewSecret(), webhook.NewSecret()
	if a == b || !strings.HasPrefix(a, webhook.SecretPrefix) {
		t.Fatalf("secrets %q %q", a, b)
	}
	if n := len(webhook.StandardKey(a)); n != webhook.SecretBytes {
		t.Fatalf("key is %d bytes, want %d", n, webhook.SecretBytes)
	}
	if got := string(webhook.StandardKey("plain-secret")); got != "plain-secret" {
		t.Fatalf("non-whsec secret key = %q", got)
	}
}

// A gzip delivery is signed before compression: VerifyHeaders accepts its
// body as received or as a framework decompressed it, and nothing else.
func TestVerifyHeadersWithGzip(t *testing.T) {
	secret, body, now := webhook.NewSecret(), []byte(`{"event_id":"evt_1"}`), time.Now()
	h := http.Header{}
	h.Set(webhook.HeaderSignature, webhook.Sign(secret, body))
	h.Set(webhook.HeaderStdID, "evt_1")
	h.Set(webhook.HeaderStdTimestamp, strconv.FormatInt(now.Unix(), 10))
	h.Set(webhook.HeaderStdSignature, webhook.SignStandard(secret, "evt_1", now, body))
	h.Set("Content-Encoding", "gzip")
	for name, c := range map[string]struct {
		body []byte
		ok   bool
	}{
		"as sent":            {gzipped(string(body)), true},
		"decompressed":       {body, true},
		"changed":            {gzipped(string(body) + " "), false},
		"not gzip after all": {append([]byte{0x1f, 0x8b}, body...), false},
	} {
		if err := webhook.VerifyHeaders(secret, h, c.body, now); (err == nil) != c.ok {
			t.Errorf("%s: %v", name, err)
		}
	}
}
