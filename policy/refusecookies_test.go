package policy

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestRefuseCookiesLoad: refuse_cookies names cookies carrying a
// credential the sidecar does not verify; Compile keeps them in lower
// case. Load refuses a name that is no RFC 6265 token, too long, a
// repeat in any case and too many, naming the line and the entry.
func TestRefuseCookiesLoad(t *testing.T) {
	t.Parallel()
	d, err := Load("p.yaml", []byte(with(0, "refuse_cookies: [sessionid, PHPSESSID, connect.sid, _app_session, \"__Host-id\"]")))
	if err != nil {
		t.Fatal(err)
	}
	s, err := Compile(d, Live{})
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"sessionid", "phpsessid", "connect.sid", "_app_session", "__host-id"}; !slices.Equal(s.RefuseCookies, want) || !s.HeaderLists {
		t.Errorf("Snapshot.RefuseCookies %q, HeaderLists %v; want %q, true", s.RefuseCookies, s.HeaderLists, want)
	}
	many := make([]string, MaxRefuseCookies+1)
	for i := range many {
		many[i] = "c" + itoa(i)
	}
	for _, c := range []struct{ list, want string }{
		{`["session id"]`, `refuse_cookies: cookie name "session id" must be a token (RFC 6265)`},
		{`["a=b"]`, `refuse_cookies: cookie name "a=b" must be a token`},
		{`["a;b"]`, `refuse_cookies: cookie name "a;b" must be a token`},
		{`["a[b]"]`, `refuse_cookies: cookie name "a[b]" must be a token`},
		{`["sessi\u00f6n"]`, `must be a token`},
		{`[""]`, `refuse_cookies: cookie name "" must have 1 to 64 bytes`},
		{"[" + strings.Repeat("a", 65) + "]", `must have 1 to 64 bytes`},
		{"[sessionid, SessionID]", `duplicate cookie (refuse_cookies, names compared in any case) "sessionid"`},
		{"[" + strings.Join(many, ", ") + "]", `refuse_cookies: 17 names, at most 16`},
	} {
		_, err := Load("p.yaml", []byte(with(0, "refuse_cookies: "+c.list)))
		if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("refuse_cookies: %s: Load: %v; want an error at its line containing %q", c.list, err, c.want)
		}
	}
	// Compile refuses what Load would, for a document built in code.
	d.RefuseCookies = []string{"a b"}
	if _, err := Compile(d, Live{}); err == nil || !strings.Contains(err.Error(), `refuse_cookies: cookie name "a b"`) {
		t.Errorf("Compile with refuse_cookies [\"a b\"]: %v; want an error naming it", err)
	}
	// Without any list the data plane skips the pass (HeaderLists).
	d.RefuseCookies = nil
	if s, err := Compile(d, Live{}); err != nil || s.HeaderLists {
		t.Errorf("Compile without the lists: HeaderLists %v, %v; want false", s != nil && s.HeaderLists, err)
	}
}

// TestRefuseCookiesWeakening: removing a name from refuse_cookies (in
// any case) is a weakening needing an approval; adding one, or
// respelling one's case, is not.
func TestRefuseCookiesWeakening(t *testing.T) {
	t.Parallel()
	lists := replace("audit:\n", "refuse_cookies: [sessionid, PHPSESSID]\naudit:\n")
	if got := weakeningsOf(t, lists, replace("refuse_cookies: [sessionid, PHPSESSID]\n", "refuse_cookies: [PHPSESSID]\n")); !strings.Contains(got, `refuse_cookies no longer names "sessionid": a credential in that cookie crosses to the service unverified`) {
		t.Errorf("a name dropped: Weakenings = %q; want refuse_cookies no longer names \"sessionid\"", got)
	}
	if got := weakeningsOf(t, lists, replace("refuse_cookies: [sessionid, PHPSESSID]\n", "")); !strings.Contains(got, `refuse_cookies no longer names "PHPSESSID"`) {
		t.Errorf("the list removed: Weakenings = %q; want refuse_cookies no longer names \"PHPSESSID\"", got)
	}
	if got := weakeningsOf(t, lists, replace("refuse_cookies: [sessionid, PHPSESSID]", "refuse_cookies: [SessionId, phpsessid, connect.sid]")); got != "" {
		t.Errorf("the list grown and respelt: Weakenings = %q; want none", got)
	}
}
