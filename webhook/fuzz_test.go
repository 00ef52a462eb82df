package webhook_test

import (
	"crypto/hmac"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/webhook"
)

// Verification takes what a stranger sends: it must never panic, must
// accept exactly what the secret signed, and nothing it did not.
func FuzzVerify(f *testing.F) {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	f.Add([]byte(`{"event_id":"e"}`), "sha256=00", "msg_1", "1700000000", "v1,AAAA")
	f.Add([]byte{}, "", "", "", "")
	f.Add([]byte("x"), "sha256=zz", "id", "not-a-number", "v1,!!! v2,abc v1")
	f.Add([]byte("x"), "SHA256=", "id", "-1", "v1,a v1,b v1,c v1,d v1,e v1,f v1,g v1,h v1,i v1,j")
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, body []byte, sig, id, ts, stdSigs string) {
		good := webhook.Sign(secret, body)
		if err := webhook.Verify(secret, body, good); err != nil {
			t.Fatalf("own signature refused: %v", err)
		}
		if webhook.Verify(secret, body, sig) == nil {
			// Accepted: it must be the MAC, however spelled (prefix, case).
			got, err := hex.DecodeString(strings.TrimPrefix(sig, "sha256="))
			want, _ := hex.DecodeString(strings.TrimPrefix(good, "sha256="))
			if err != nil || !hmac.Equal(got, want) {
				t.Fatalf("forged X-Webhook-Signature %q accepted", sig)
			}
		}
		if webhook.VerifyStandard(secret, id, ts, body, stdSigs, now, webhook.DefaultTolerance) == nil {
			// Accepted: the timestamp is fresh and one of the signatures
			// is the secret's over exactly this id, timestamp and body.
			n, err := strconv.ParseInt(ts, 10, 64)
			if err != nil || !withinTolerance(n, now) || !containsField(stdSigs, webhook.SignStandard(secret, id, time.Unix(n, 0), body)) {
				t.Fatalf("standard signature %q for id %q, ts %q accepted", stdSigs, id, ts)
			}
		}
		want := webhook.SignStandard(secret, id, now, body)
		if webhook.VerifyStandard(secret, id, strconv.FormatInt(now.Unix(), 10), body, want, now, webhook.DefaultTolerance) != nil {
			t.Fatal("own standard signature refused")
		}
	})
}

func containsField(list, want string) bool {
	for start := 0; start <= len(list)-len(want); start++ {
		if list[start:start+len(want)] == want && (start == 0 || list[start-1] == ' ') &&
			(start+len(want) == len(list) || list[start+len(want)] == ' ') {
			return true
		}
	}
	return false
}

func withinTolerance(unix int64, now time.Time) bool {
	d := now.Sub(time.Unix(unix, 0))
	return d <= webhook.DefaultTolerance && d >= -webhook.DefaultTolerance
}
