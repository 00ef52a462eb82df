package main

import (
	"flag"
	"net/http"
	"strings"
	"testing"

	"github.com/loki-interceptor/herald/api"
)

// herald dev serves the dashboard at /, and the banner's link signs its
// admin in once: the cookie is not Secure (plain http on loopback) and the
// session knows where the Temporal UI is.
func TestDevServesTheDashboard(t *testing.T) {
	dev := start(t, "dev", "--ephemeral", "--api-addr", "127.0.0.1:0", "--temporal-port", "0", "--ui-port", "0")
	link := waitFor(t, &dev.out, &dev.err, `Dashboard\s+(http://\S+)`)
	ui := waitFor(t, &dev.out, &dev.err, `Temporal UI\s+(http://\S+)/namespaces/`)
	base, code, ok := strings.Cut(link, "/ui/#sign-in=")
	if !ok || len(code) < 32 {
		t.Fatalf("dashboard link %q", link)
	}
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := noRedirect.Get(base + "/")
	if err != nil || resp.StatusCode != 302 || resp.Header.Get("Location") != "/ui/" {
		t.Fatalf("GET /: %v %v", resp, err)
	}
	resp.Body.Close()
	signIn := func() (*http.Response, []byte) {
		body := `{"sign_in_code":"` + code + `"}`
		req, _ := http.NewRequest("POST", base+"/api/v1/session", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set(api.CSRFHeader, "1")
		return checked(t, req, body)
	}
	resp, body := signIn()
	cookies := resp.Cookies()
	if resp.StatusCode != 200 || len(cookies) != 1 || cookies[0].Secure || !cookies[0].HttpOnly ||
		!strings.Contains(string(body), `"temporal_ui_url":"`+ui+`"`) {
		t.Fatalf("the banner's link: %d %q %s", resp.StatusCode, resp.Header.Get("Set-Cookie"), body)
	}
	req, _ := http.NewRequest("GET", base+"/api/v1/webhooks", nil)
	req.AddCookie(cookies[0])
	if resp, body := checked(t, req, ""); resp.StatusCode != 200 {
		t.Fatalf("the admin's cookie: %d %s", resp.StatusCode, body)
	}
	if again, _ := signIn(); again.StatusCode != 401 {
		t.Fatalf("the link signed in twice: %d", again.StatusCode)
	}
}

// herald api serves the dashboard unless told not to; its cookie is
// Secure unless told otherwise.
func TestAPIDashboardFlags(t *testing.T) {
	for _, tc := range []struct {
		args                []string
		dashboard, insecure bool
	}{
		{nil, true, false},
		{[]string{"--no-dashboard"}, false, false},
		{[]string{"--insecure-session-cookie", "--temporal-ui-url", "https://t.example"}, true, true},
	} {
		fs := flag.NewFlagSet("api", flag.ContinueOnError)
		var d dashboardFlags
		d.register(fs)
		if err := fs.Parse(tc.args); err != nil {
			t.Fatal(err)
		}
		var cfg api.Config
		d.apply(&cfg)
		if (cfg.Dashboard != nil) != tc.dashboard || cfg.InsecureSessionCookie != tc.insecure || cfg.SessionMaxAge != api.DefaultSessionMaxAge {
			t.Errorf("%v: dashboard %v, insecure cookie %v, max age %v", tc.args, cfg.Dashboard != nil, cfg.InsecureSessionCookie, cfg.SessionMaxAge)
		}
	}
}
