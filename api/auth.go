package api

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/webhook"
)

// keyStore is what authentication and the API-key handlers need.
type keyStore interface {
	APIKey(ctx context.Context, keyID string) (*apikey.Key, error)
	CreateAPIKey(ctx context.Context, k *apikey.Key) error
	ListAPIKeys(ctx context.Context) ([]*apikey.Key, error)
	RevokeAPIKey(ctx context.Context, id int64) error
	TouchAPIKey(ctx context.Context, id int64) error
}

// Per-key request rate, unless configured: generous enough for an event
// source publishing in bursts, low enough that one leaked or runaway key
// cannot take the API down for everyone.
const (
	DefaultKeyRate  = 500
	DefaultKeyBurst = 1000
	// Failed authentications per client address: enough for a person
	// fixing a typo, far too few to guess keys.
	failureRate  = 1
	failureBurst = 20
)

// keyLimiters holds one token bucket per API key, in this process, and
// when this process last recorded each key's use.
type keyLimiters struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	byKey   map[string]*rate.Limiter
	touched map[string]time.Time
}

// maxTracked bounds how many limiters are kept: the failure limiters are
// keyed by client address, which a client does not choose freely but may
// have many of. Past it they start afresh.
const maxTracked = 100_000

func (l *keyLimiters) limiter(key string) *rate.Limiter {
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.byKey[key]
	if !ok {
		if len(l.byKey) >= maxTracked {
			clear(l.byKey)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.byKey[key] = lim
	}
	return lim
}

// exhausted reports whether key has no token left, taking none.
func (l *keyLimiters) exhausted(key string, now time.Time) bool {
	return l.rate > 0 && l.limiter(key).TokensAt(now) < 1
}

// touchDue reports whether a key's last use should be written now: at most
// once a minute per key and process, so requests cost no extra write.
func (l *keyLimiters) touchDue(keyID string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.touched[keyID]) < time.Minute {
		return false
	}
	l.touched[keyID] = now
	return true
}

func (l *keyLimiters) allow(keyID string, now time.Time) (bool, time.Duration) {
	if l.rate <= 0 {
		return true, 0
	}
	lim := l.limiter(keyID)
	r := lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// requiredScope is what a request needs: admin for API keys and for
// defining event types (they decide what every publisher may send), events
// (or write) to publish, read for any GET, write for any other change.
func requiredScope(c *fiber.Ctx) apikey.Scope {
	path, method := strings.ToLower(c.Path()), c.Method()
	switch {
	case strings.HasPrefix(path, "/api/v1/api-keys"):
		return apikey.Admin
	case strings.HasPrefix(path, "/api/v1/event-types") && method != fiber.MethodGet && method != fiber.MethodHead:
		return apikey.Admin
	case method == fiber.MethodGet || method == fiber.MethodHead:
		return apikey.Read
	case method == fiber.MethodPost && (strings.TrimSuffix(path, "/") == "/api/v1/events" || strings.TrimSuffix(path, "/") == "/api/v1/events/batch"):
		return apikey.Events
	}
	return apikey.Write
}

// callerKey is where authenticate leaves the request's API key.
const callerKey = "herald.api_key"

// callerAllows says the request's API key has a scope.
func callerAllows(c *fiber.Ctx, need apikey.Scope) bool {
	k, _ := c.Locals(callerKey).(*apikey.Key)
	return k != nil && k.Allows(need)
}

// authenticate lets a request through only with a usable API key whose
// scopes allow it, within the key's request rate.
func (s *Server) authenticate(c *fiber.Ctx) error {
	// A client that keeps failing is slowed before its next key costs a
	// database lookup: guessing is bounded, and so is its load.
	if err := s.throttled(c); err != nil {
		return err
	}
	k, err := s.apiKey(c)
	if err != nil {
		return s.refused(c, err)
	}
	if need := requiredScope(c); !k.Allows(need) {
		return webhook.Errorf(webhook.EForbidden, "API key %q (scopes %s) may not do this: it needs the %s scope", k.Name, scopeList(k.Scopes), need)
	}
	if ok, wait := s.limiters.allow(k.KeyID, s.cfg.Now()); !ok {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(wait/time.Second)+1))
		return webhook.Errorf(webhook.ERateLimited, "API key %q is over its request rate; retry after %s", k.Name, wait.Round(time.Millisecond))
	}
	c.Locals(callerKey, k)
	if s.limiters.touchDue(k.KeyID, s.cfg.Now()) {
		if err := s.store.TouchAPIKey(c.UserContext(), k.ID); err != nil {
			s.cfg.Logger.Warn("cannot record an API key's use", "key_id", k.KeyID, "error", err)
		}
	}
	return c.Next()
}

// throttled refuses a client address that has failed to authenticate too
// often lately.
func (s *Server) throttled(c *fiber.Ctx) error {
	if s.failures.exhausted(c.IP(), s.cfg.Now()) {
		c.Set(fiber.HeaderRetryAfter, "1")
		return webhook.Errorf(webhook.ERateLimited, "too many requests with a missing or invalid API key from this address")
	}
	return nil
}

// refused counts a failed authentication against the client's address and
// passes err on. A session cookie that holds a key no longer valid is
// cleared, so the browser stops sending it.
func (s *Server) refused(c *fiber.Ctx, err error) error {
	if webhook.ErrorCode(err) == webhook.EUnauthorized {
		s.failures.allow(c.IP(), s.cfg.Now())
		c.Set(fiber.HeaderWWWAuthenticate, `Bearer realm="herald"`)
		if c.Locals(viaKey) == viaCookie {
			s.clearSessionCookie(c)
		}
	}
	return err
}

// apiKey reads and checks the request's key: the bearer key, or without an
// Authorization header the session cookie a browser signed in with.
func (s *Server) apiKey(c *fiber.Ctx) (*apikey.Key, error) {
	header := c.Get(fiber.HeaderAuthorization)
	if cookie := c.Cookies(SessionCookie); header == "" && cookie != "" {
		c.Locals(viaKey, viaCookie)
		// A browser sends the cookie with whatever a page of another
		// site makes it send: changes need proof the page is ours.
		if !safeMethod(c.Method()) {
			if err := sameOrigin(c); err != nil {
				return nil, err
			}
		}
		return s.checkKey(c, cookie)
	}
	c.Locals(viaKey, viaBearer)
	scheme, secret, _ := strings.Cut(header, " ")
	if !strings.EqualFold(scheme, "Bearer") || secret == "" {
		return nil, webhook.Errorf(webhook.EUnauthorized, "an API key is required: send Authorization: Bearer <key> (or sign in: POST /api/v1/session)")
	}
	return s.checkKey(c, strings.TrimSpace(secret))
}

// checkKey looks a presented key up and says whether it may be used now.
func (s *Server) checkKey(c *fiber.Ctx, secret string) (*apikey.Key, error) {
	keyID, ok := apikey.ParseID(secret)
	if !ok {
		return nil, webhook.Errorf(webhook.EUnauthorized, "the API key is malformed (Herald keys begin %s)", apikey.Prefix)
	}
	k, err := s.store.APIKey(c.UserContext(), keyID)
	if webhook.ErrorCode(err) == webhook.ENotFound || err == nil && !k.Matches(secret) {
		return nil, webhook.Errorf(webhook.EUnauthorized, "the API key is not valid")
	}
	if err != nil {
		// Not checked is not refused: a 401 would tell the caller to
		// replace a good key, a bare error would be a 500. The caller is
		// not yet known, so the cause goes to the log only.
		s.cfg.Logger.Error("cannot look up an API key", "key_id", keyID, "error", err)
		return nil, webhook.Errorf(webhook.EUnavailable, "the API key cannot be checked now (the database is unavailable); retry later")
	}
	if why := k.Usable(s.cfg.Now()); why != "" {
		return nil, webhook.Errorf(webhook.EUnauthorized, "%s", why)
	}
	return k, nil
}

func scopeList(scopes []apikey.Scope) string {
	out := make([]string, len(scopes))
	for i, s := range scopes {
		out[i] = string(s)
	}
	return strings.Join(out, ",")
}

// identityOnly refuses compressed request bodies: unpacking them would
// happen after the size limit checked the compressed length, so a few
// kilobytes could expand into gigabytes.
func identityOnly(c *fiber.Ctx) error {
	if enc := strings.TrimSpace(c.Get(fiber.HeaderContentEncoding)); enc != "" && !strings.EqualFold(enc, "identity") {
		return webhook.Errorf(webhook.EUnsupported, "Content-Encoding %q is not accepted: send the body uncompressed", enc)
	}
	return c.Next()
}

// securityHeaders go on every answer: it is JSON for programs, never a page
// to frame, sniff or cache.
func securityHeaders(c *fiber.Ctx) error {
	c.Set(fiber.HeaderXContentTypeOptions, "nosniff")
	c.Set(fiber.HeaderXFrameOptions, "DENY")
	c.Set(fiber.HeaderContentSecurityPolicy, "default-src 'none'; frame-ancestors 'none'")
	c.Set(fiber.HeaderReferrerPolicy, "no-referrer")
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderStrictTransportSecurity, "max-age=31536000")
	return c.Next()
}

type apiKeyInput struct {
	Name           *string         `json:"name"`
	Scopes         *[]apikey.Scope `json:"scopes"`
	ExpiresAt      *time.Time      `json:"expires_at"`
	ExpiresInHours *int            `json:"expires_in_hours"`
}

// createdKey is the one answer that carries the key itself.
type createdKey struct {
	*apikey.Key
	Secret string `json:"key"`
}

func (s *Server) createAPIKey(c *fiber.Ctx) error {
	var in apiKeyInput
	if err := decode(c, &in); err != nil {
		return err
	}
	now := s.cfg.Now()
	name, scopes, expires, err := in.check(now)
	if err != nil {
		return err
	}
	secret, k := apikey.New(name, scopes, expires)
	if err := s.store.CreateAPIKey(c.UserContext(), k); err != nil {
		return err
	}
	return c.Status(fiber.StatusCreated).JSON(createdKey{Key: k, Secret: secret})
}

func (in *apiKeyInput) check(now time.Time) (string, []apikey.Scope, *time.Time, error) {
	var fe webhook.FieldErrors
	name := ""
	if in.Name != nil {
		name = strings.TrimSpace(*in.Name)
	}
	if name == "" || len(name) > webhook.MaxNameLen || !webhook.PlainText(name, false) {
		fe.Add("name", "is required: at most %d characters, no control characters", webhook.MaxNameLen)
	}
	var scopes []apikey.Scope
	if in.Scopes == nil || len(*in.Scopes) == 0 {
		fe.Add("scopes", "must name at least one of read, write, events, admin")
	} else {
		for _, sc := range *in.Scopes {
			if !sc.Valid() {
				fe.Add("scopes", "unknown scope %q; scopes: read, write, events, admin", sc)
			}
		}
		scopes = *in.Scopes
	}
	expires := in.ExpiresAt
	if in.ExpiresInHours != nil {
		if *in.ExpiresInHours < 1 || *in.ExpiresInHours > 24*3650 {
			fe.Add("expires_in_hours", "must be between 1 and 87600")
		}
		t := now.Add(time.Duration(*in.ExpiresInHours) * time.Hour)
		expires = &t
	}
	if expires != nil && !expires.After(now) {
		fe.Add("expires_at", "must be in the future")
	}
	return name, scopes, expires, fe.Err("API key")
}

func (s *Server) listAPIKeys(c *fiber.Ctx) error {
	keys, err := s.store.ListAPIKeys(c.UserContext())
	if err != nil {
		return err
	}
	return c.JSON(fiber.Map{"api_keys": keys, "total": len(keys)})
}

func (s *Server) revokeAPIKey(c *fiber.Ctx) error {
	id, err := pathID(c, "id", "API key")
	if err != nil {
		return err
	}
	if err := s.store.RevokeAPIKey(c.UserContext(), id); err != nil {
		return err
	}
	return c.SendStatus(fiber.StatusNoContent)
}
