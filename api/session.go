package api

import (
	"crypto/subtle"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/loki-interceptor/herald/apikey"
	"github.com/loki-interceptor/herald/webhook"
)

// A browser signs in with an API key once; the key then travels in a
// cookie its scripts cannot read (HttpOnly), that no other site's page
// makes it send (SameSite=Strict), and that crosses the network only over
// https (Secure, unless InsecureSessionCookie). The server keeps no
// session state: the cookie is checked like a bearer key on every request,
// so revoking the key ends every session that holds it.
const (
	// SessionCookie holds a signed-in browser's API key.
	SessionCookie = "herald_session"
	// CSRFHeader must come with every change made with the session cookie,
	// and with signing in and out. A form, link or image of another site
	// cannot send a header, and its scripts cannot without CORS, which
	// Herald never grants.
	CSRFHeader = "X-Herald-CSRF"
	// DefaultSessionMaxAge is a working day: long enough not to interrupt
	// one, short enough that a forgotten browser does not stay signed in.
	DefaultSessionMaxAge = 12 * time.Hour
)

// viaKey is where authenticate notes how the request's key came.
const (
	viaKey    = "herald.via"
	viaCookie = "cookie"
	viaBearer = "bearer"
)

// SignInCode signs its holder in with Key, once, until Expires: `herald
// dev` prints a dashboard link that carries one, so its own admin need not
// paste the key. The code is in the link's fragment, which browsers never
// send to a server or into its logs.
type SignInCode struct {
	Code    string
	Key     string
	Expires time.Time
}

type sessionInput struct {
	APIKey     *string `json:"api_key"`
	SignInCode *string `json:"sign_in_code"`
}

// sessionView is who is signed in, and what the dashboard needs to link
// to a delivery's workflow in the Temporal Web UI.
type sessionView struct {
	KeyID           string         `json:"key_id"`
	Name            string         `json:"name"`
	Scopes          []apikey.Scope `json:"scopes"`
	KeyExpiresAt    *time.Time     `json:"key_expires_at"`
	AuthenticatedBy string         `json:"authenticated_by"`
	TemporalUI      string         `json:"temporal_ui_url"`
	Namespace       string         `json:"temporal_namespace"`
}

func (s *Server) sessionOf(k *apikey.Key, via string) sessionView {
	return sessionView{KeyID: k.KeyID, Name: k.Name, Scopes: k.Scopes, KeyExpiresAt: k.ExpiresAt,
		AuthenticatedBy: via, TemporalUI: s.cfg.TemporalUI, Namespace: s.cfg.Namespace}
}

// signIn checks a key exactly as a bearer key is checked (the same
// failure throttle, the same errors) and answers with a cookie holding it.
func (s *Server) signIn(c *fiber.Ctx) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	if err := s.throttled(c); err != nil {
		return err
	}
	var in sessionInput
	if err := decode(c, &in); err != nil {
		return err
	}
	secret, err := s.presented(in)
	if err != nil {
		return s.refused(c, err)
	}
	k, err := s.checkKey(c, secret)
	if err != nil {
		return s.refused(c, err)
	}
	// Every page of the dashboard reads; a key that cannot would be
	// signed in to nothing but errors.
	if !k.Allows(apikey.Read) {
		return webhook.Errorf(webhook.EForbidden, "API key %q (scopes %s) cannot read, and the dashboard needs the read scope", k.Name, scopeList(k.Scopes))
	}
	s.setSessionCookie(c, secret, k)
	return c.JSON(s.sessionOf(k, viaCookie))
}

// presented is the key a sign-in names: given, or redeemed for a code.
func (s *Server) presented(in sessionInput) (string, error) {
	switch {
	case in.APIKey != nil && in.SignInCode == nil:
		return strings.TrimSpace(*in.APIKey), nil
	case in.SignInCode != nil && in.APIKey == nil:
		return s.redeem(*in.SignInCode)
	}
	var fe webhook.FieldErrors
	fe.Add("api_key", "is required (or, from herald dev's link, sign_in_code instead)")
	return "", fe.Err("sign-in")
}

// redeem spends the one-time sign-in code.
func (s *Server) redeem(code string) (string, error) {
	sc := s.signInCode.Load()
	if sc == nil || !s.cfg.Now().Before(sc.Expires) ||
		subtle.ConstantTimeCompare([]byte(code), []byte(sc.Code)) != 1 || !s.signInCode.CompareAndSwap(sc, nil) {
		return "", webhook.Errorf(webhook.EUnauthorized, "the sign-in link is not valid: it works once, shortly after herald dev starts; sign in with the API key instead")
	}
	return sc.Key, nil
}

func (s *Server) setSessionCookie(c *fiber.Ctx, secret string, k *apikey.Key) {
	age := s.cfg.SessionMaxAge
	if k.ExpiresAt != nil {
		age = min(age, k.ExpiresAt.Sub(s.cfg.Now()))
	}
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Value: secret, Path: "/", MaxAge: max(1, int(age/time.Second)),
		Secure: !s.cfg.InsecureSessionCookie, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
}

// clearSessionCookie tells the browser to drop the cookie (an expiry in
// the past), with the attributes it was set with.
func (s *Server) clearSessionCookie(c *fiber.Ctx) {
	c.Cookie(&fiber.Cookie{Name: SessionCookie, Path: "/", Expires: time.Unix(1, 0),
		Secure: !s.cfg.InsecureSessionCookie, HTTPOnly: true, SameSite: fiber.CookieSameSiteStrictMode})
}

func (s *Server) getSession(c *fiber.Ctx) error {
	k, _ := c.Locals(callerKey).(*apikey.Key)
	via, _ := c.Locals(viaKey).(string)
	return c.JSON(s.sessionOf(k, via))
}

// signOut clears the cookie whatever it holds: a revoked key's session
// must be as easy to leave as a valid one's.
func (s *Server) signOut(c *fiber.Ctx) error {
	if err := sameOrigin(c); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.SendStatus(fiber.StatusNoContent)
}

// sameOrigin refuses what a page of another site could have made a
// browser send: without CSRFHeader, or from an Origin that is not this
// server. Origin is compared by host only: behind a proxy that ends TLS
// the scheme differs, and the proxy must pass the Host it was asked for.
func sameOrigin(c *fiber.Ctx) error {
	if c.Get(CSRFHeader) == "" {
		return webhook.Errorf(webhook.EForbidden, "send %s: 1 with this request: with the session cookie, it is what shows a change comes from the dashboard and not from a page of another site", CSRFHeader)
	}
	origin := c.Get(fiber.HeaderOrigin)
	if origin == "" {
		return nil
	}
	host := string(c.Request().Host())
	if u, err := url.Parse(origin); err != nil || u.Host == "" || !strings.EqualFold(u.Host, host) {
		return webhook.Errorf(webhook.EForbidden, "the request comes from a page of %q, not of this server (%s)", origin, host)
	}
	return nil
}

func safeMethod(m string) bool {
	return m == fiber.MethodGet || m == fiber.MethodHead || m == fiber.MethodOptions
}
