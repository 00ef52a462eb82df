package apikey_test

import (
	"strings"
	"testing"
	"time"

	"github.com/loki-interceptor/herald/apikey"
)

func TestNewKeysAreRandomAndRecognisable(t *testing.T) {
	a, ka := apikey.New("a", []apikey.Scope{apikey.Read}, nil)
	b, _ := apikey.New("b", []apikey.Scope{apikey.Read}, nil)
	if a == b || !strings.HasPrefix(a, apikey.Prefix) || len(a) != len(apikey.Prefix)+12+1+43 {
		t.Fatalf("keys %q %q", a, b)
	}
	if id, ok := apikey.ParseID(a); !ok || id != ka.KeyID {
		t.Fatalf("ParseID(%q) = %q %v, want %q", a, id, ok, ka.KeyID)
	}
	if ka.Hash == a || strings.Contains(ka.Hash, a[len(apikey.Prefix)+13:]) {
		t.Fatal("the stored form holds the key")
	}
	if !ka.Matches(a) || ka.Matches(b) || ka.Matches(a[:len(a)-1]+"x") {
		t.Fatal("Matches")
	}
	for _, bad := range []string{"", "hrld_", "Bearer " + a, a + "x", strings.Replace(a, "_", "-", 2), "sk_" + a[5:]} {
		if _, ok := apikey.ParseID(bad); ok {
			t.Errorf("ParseID accepted %q", bad)
		}
	}
}

func TestScopes(t *testing.T) {
	tests := []struct {
		has  []apikey.Scope
		need apikey.Scope
		ok   bool
	}{
		{[]apikey.Scope{apikey.Read}, apikey.Read, true},
		{[]apikey.Scope{apikey.Read}, apikey.Write, false},
		{[]apikey.Scope{apikey.Read}, apikey.Events, false},
		{[]apikey.Scope{apikey.Events}, apikey.Events, true},
		{[]apikey.Scope{apikey.Events}, apikey.Read, false},
		{[]apikey.Scope{apikey.Write}, apikey.Read, true},
		{[]apikey.Scope{apikey.Write}, apikey.Events, true},
		{[]apikey.Scope{apikey.Write}, apikey.Admin, false},
		{[]apikey.Scope{apikey.Admin}, apikey.Admin, true},
		{[]apikey.Scope{apikey.Admin}, apikey.Write, true},
		{nil, apikey.Read, false},
	}
	for _, tc := range tests {
		k := &apikey.Key{Scopes: tc.has}
		if got := k.Allows(tc.need); got != tc.ok {
			t.Errorf("%v allows %s = %v, want %v", tc.has, tc.need, got, tc.ok)
		}
	}
	if _, err := apikey.ParseScopes("read,root"); err == nil {
		t.Fatal("unknown scope accepted")
	}
	if s, err := apikey.ParseScopes("read, write,read"); err != nil || len(s) != 2 {
		t.Fatalf("ParseScopes: %v %v", s, err)
	}
}

func TestUsable(t *testing.T) {
	now := time.Now()
	past, future := now.Add(-time.Second), now.Add(time.Hour)
	for _, tc := range []struct {
		k    apikey.Key
		want string
	}{
		{apikey.Key{}, ""},
		{apikey.Key{ExpiresAt: &future}, ""},
		{apikey.Key{ExpiresAt: &past}, "expired"},
		{apikey.Key{ExpiresAt: &now}, "expired"},
		{apikey.Key{RevokedAt: &past}, "revoked"},
	} {
		if got := tc.k.Usable(now); !strings.Contains(got, tc.want) || (tc.want == "") != (got == "") {
			t.Errorf("Usable = %q, want %q", got, tc.want)
		}
	}
}
