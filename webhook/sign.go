package webhook

import (
	"bytes"
	"compress/gzip"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"
)

// Headers Herald sets on every delivery.
const (
	HeaderSignature = "X-Webhook-Signature" // sha256=<hex HMAC-SHA256(secret, body)>
	HeaderID        = "X-Webhook-ID"        // the event id, the same on every attempt
	HeaderEvent     = "X-Webhook-Event"     // the event type
	HeaderAttempt   = "X-Webhook-Attempt"   // 1 for the first attempt

	// Standard Webhooks (https://www.standardwebhooks.com).
	HeaderStdID        = "webhook-id"
	HeaderStdTimestamp = "webhook-timestamp"
	HeaderStdSignature = "webhook-signature" // v1,<base64 HMAC-SHA256(key, id.timestamp.body)>
)

// SecretPrefix marks a Standard Webhooks secret: the rest is the base64 key.
const SecretPrefix = "whsec_"

// SecretBytes is the size of a generated secret's key.
const SecretBytes = 32

// DefaultTolerance is how old (or how far in the future) a webhook-timestamp
// may be before VerifyStandard refuses it as a possible replay.
const DefaultTolerance = 5 * time.Minute

var (
	ErrNoSignature      = errors.New("webhook: no signature")
	ErrBadSignature     = errors.New("webhook: signature does not match")
	ErrTimestampInvalid = errors.New("webhook: timestamp invalid")
	ErrTimestampSkew    = errors.New("webhook: timestamp outside tolerance")
)

// NewSecret returns a fresh random secret in Standard Webhooks form.
func NewSecret() string {
	key := make([]byte, SecretBytes)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

// StandardKey is the HMAC key the Standard Webhooks signature uses: the
// base64-decoded part of a whsec_ secret, or the secret's bytes otherwise.
func StandardKey(secret string) []byte {
	if rest, ok := strings.CutPrefix(secret, SecretPrefix); ok {
		if key, err := base64.StdEncoding.DecodeString(rest); err == nil {
			return key
		}
	}
	return []byte(secret)
}

// Sign computes X-Webhook-Signature: HMAC-SHA256 keyed with the secret's
// bytes as written (whsec_ prefix included) over the raw body, as the LOKI
// guide's verification examples compute it.
func Sign(secret string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}

// Verify checks an X-Webhook-Signature value (with or without the sha256=
// prefix) against the body, in constant time.
func Verify(secret string, body []byte, signature string) error {
	signature = strings.TrimSpace(signature)
	if signature == "" {
		return ErrNoSignature
	}
	got, err := hex.DecodeString(strings.TrimPrefix(signature, "sha256="))
	if err != nil {
		return ErrBadSignature
	}
	want, _ := hex.DecodeString(strings.TrimPrefix(Sign(secret, body), "sha256="))
	if !hmac.Equal(got, want) {
		return ErrBadSignature
	}
	return nil
}

// SignStandard computes the Standard Webhooks signature header value.
func SignStandard(secret, msgID string, timestamp time.Time, body []byte) string {
	return "v1," + base64.StdEncoding.EncodeToString(standardMAC(secret, msgID, strconv.FormatInt(timestamp.Unix(), 10), body))
}

func standardMAC(secret, msgID, timestamp string, body []byte) []byte {
	m := hmac.New(sha256.New, StandardKey(secret))
	m.Write([]byte(msgID))
	m.Write([]byte{'.'})
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return m.Sum(nil)
}

// VerifyStandard checks Standard Webhooks headers: the timestamp within
// tolerance of now, and any one of the space-separated v1 signatures valid.
func VerifyStandard(secret, msgID, timestamp string, body []byte, signatures string, now time.Time, tolerance time.Duration) error {
	if signatures == "" {
		return ErrNoSignature
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return ErrTimestampInvalid
	}
	if skew := now.Sub(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return ErrTimestampSkew
	}
	want := standardMAC(secret, msgID, timestamp, body)
	for _, sig := range strings.Fields(signatures) {
		version, value, ok := strings.Cut(sig, ",")
		if !ok || version != "v1" {
			continue
		}
		got, err := base64.StdEncoding.DecodeString(value)
		if err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return ErrBadSignature
}

// HeaderGetter is satisfied by net/http's Header.
type HeaderGetter interface{ Get(string) string }

// MaxDecompressed bounds what Decompressed inflates a body to.
const MaxDecompressed = 10 << 20

// Decompressed returns the body a delivery's signatures cover, which is
// the body before compression: a gzip body (Content-Encoding: gzip) is
// inflated, unless the receiver's framework already did so (a JSON body
// never begins with gzip's magic bytes).
func Decompressed(h HeaderGetter, body []byte) ([]byte, error) {
	if !strings.EqualFold(h.Get("Content-Encoding"), "gzip") || !bytes.HasPrefix(body, []byte{0x1f, 0x8b}) {
		return body, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	out, err := io.ReadAll(io.LimitReader(zr, MaxDecompressed+1))
	if err == nil && len(out) > MaxDecompressed {
		err = fmt.Errorf("webhook: body inflates past %d bytes", MaxDecompressed)
	}
	return out, err
}

// VerifyHeaders checks both of Herald's signatures on a received request:
// X-Webhook-Signature, and the Standard Webhooks headers with DefaultTolerance.
// A gzip body may be passed as received or already decompressed.
func VerifyHeaders(secret string, h HeaderGetter, body []byte, now time.Time) error {
	body, err := Decompressed(h, body)
	if err != nil {
		return ErrBadSignature
	}
	if err := Verify(secret, body, h.Get(HeaderSignature)); err != nil {
		return err
	}
	return VerifyStandard(secret, h.Get(HeaderStdID), h.Get(HeaderStdTimestamp), body, h.Get(HeaderStdSignature), now, DefaultTolerance)
}
