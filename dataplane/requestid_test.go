package dataplane

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/valyala/fasthttp"
)

// Generated request ids carry the counter as 16 lower-case hex digits
// after the process's prefix.
func TestGeneratedRequestIDDigits(t *testing.T) {
	m := newInmem(t, false)
	var ctx fasthttp.RequestCtx
	for _, n := range []uint64{0, 1, 9, 10, 15, 16, 0xabcdef, 1<<32 - 1, 1 << 32, 0x0123456789abcdef, 0xfedcba9876543210, 1<<64 - 1} {
		x := m.srv.beginAt(&ctx, 0, 0)
		x.ids, x.idsEnd = n, n+1 // the id numbered n, with no block claimed
		m.srv.requestID(x)
		if got, want := string(x.reqID), fmt.Sprintf("%s%016x", m.srv.reqPrefix[:], n); got != want {
			t.Errorf("id %#x = %q, want %q", n, got, want)
		}
		m.srv.ready(&ctx, x)
	}
}

// Generated request ids are unique across exchanges and goroutines, though
// each exchange numbers its own block of them.
func TestGeneratedRequestIDsUnique(t *testing.T) {
	m := newInmem(t, false)
	const workers, each = 4, 5000
	ids := make([][]string, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var ctx fasthttp.RequestCtx // no connection: pooled exchanges
			for range each {
				x := m.srv.beginAt(&ctx, 0, 0)
				m.srv.requestID(x)
				ids[w] = append(ids[w], string(x.reqID))
				m.srv.ready(&ctx, x)
			}
		}()
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			if seen[id] {
				t.Fatalf("request id %q generated twice", id)
			}
			if len(id) != len(m.srv.reqPrefix)+16 || !validRequestID([]byte(id)) {
				t.Fatalf("request id %q is not prefix + 16 hex digits", id)
			}
			seen[id] = true
		}
	}
}

// An API key fits the request id's shape (59 bytes of letters, digits and
// '_'), so a client that sent its key as X-Request-ID had it kept: in the
// audit record, the sidecar's log lines that name the request, the
// response and the request the service got, though an API key is never
// forwarded. Such an id is replaced by one the sidecar makes, with the
// prefix in any case: "PK_..." still carries the secret.
func TestRequestIDHoldingAKeyReplaced(t *testing.T) {
	st := startStack(t, nil)
	for _, id := range []string{hrisKey, "req-" + hrisKey[:40], "x:" + hrisKey, "PK" + hrisKey[2:], "Pk" + hrisKey[2:], "req-pK" + hrisKey[2:40]} {
		r := do(t, st.addr, "GET", "/v1/users/42", map[string]string{"X-API-Key": hrisKey, "X-Request-ID": id}, "")
		if r.status != 200 {
			t.Fatalf("%q: status %d, want 200", id, r.status)
		}
		got := st.up.received()
		sent := got[len(got)-1].headers["x-request-id"]
		rec := st.sink.last(t)
		for what, v := range map[string]string{"upstream": sent, "response": r.header.Get("X-Request-Id"), "audit": string(rec.RequestID())} {
			if strings.Contains(strings.ToLower(v), "pk_") {
				t.Errorf("%s request id %q holds the key", what, v)
			}
		}
		if sent != r.header.Get("X-Request-Id") || sent != string(rec.RequestID()) || sent == "" {
			t.Errorf("request ids differ: upstream %q, response %q, audit %q", sent, r.header.Get("X-Request-Id"), rec.RequestID())
		}
	}
}

// The ids a sidecar makes are a random prefix and a counter, so anyone
// who got one in an answer could send the next ones, or one another
// client got, as X-Request-ID: two requests of two tenants then had one
// id in the audit trail, the service's logs and the answer the other
// client quotes to find its request. An id with the sidecar's own prefix
// is made afresh; one of another sidecar (a service calling the next one
// passes it on) or of the client's own is kept.
func TestRequestIDOfThisSidecarReplaced(t *testing.T) {
	st := startStack(t, nil)
	r := do(t, st.addr, "GET", "/v1/users/42", key(hrisKey), "")
	made := r.header.Get("X-Request-Id")
	if r.status != 200 || len(made) != 25 {
		t.Fatalf("status %d, request id %q: want 200 and an id the sidecar made", r.status, made)
	}
	for _, id := range []string{made, made[:9] + "0000000000000007", strings.ToUpper(made), made[:9] + "x"} {
		r = do(t, st.addr, "GET", "/v1/reports/1", map[string]string{"X-API-Key": globexKey, "X-Request-ID": id}, "")
		if r.status != 200 {
			t.Fatalf("%q: status %d, want 200", id, r.status)
		}
		got := st.up.received()
		sent, rec := got[len(got)-1].headers["x-request-id"], st.sink.last(t)
		if strings.EqualFold(sent, id) || strings.EqualFold(string(rec.RequestID()), id) || strings.EqualFold(r.header.Get("X-Request-Id"), id) {
			t.Errorf("another client's request kept the id %q: upstream %q, audit %q", id, sent, rec.RequestID())
		}
	}
	other := "0123abcd-" + made[9:] // another sidecar's prefix
	if other[:9] == made[:9] {
		other = "4567cdef-" + made[9:]
	}
	for _, own := range []string{"3f2b8c1e-9d4a-4e7b-8a6f-0c5d2e1b7a93", other} {
		r = do(t, st.addr, "GET", "/v1/reports/1", map[string]string{"X-API-Key": globexKey, "X-Request-ID": own}, "")
		if rec := st.sink.last(t); r.header.Get("X-Request-Id") != own || string(rec.RequestID()) != own {
			t.Errorf("id %q: answer %q, audit %q", own, r.header.Get("X-Request-Id"), rec.RequestID())
		}
	}
}

// TestCredentialInPathOrUserAgentMasked: a client that put its API key
// in the path or the user agent, or a token in the user agent, had it
// written into the audit record as sent. A key's secret (its prefix in
// any case, its id kept) and a JWT after its "eyJ" are masked there.
func TestCredentialInPathOrUserAgentMasked(t *testing.T) {
	st := startStack(t, nil)
	const jwt = "eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
	secret := hrisKey[len("pk_acmehris1_"):]
	for _, tc := range []struct{ path, ua, wantPath, wantUA string }{
		{"/v1/users/" + hrisKey, "cli/1.0 " + jwt + " (ok)", "/v1/users/pk_acmehris1_" + strings.Repeat("*", len(secret)), "cli/1.0 eyJ" + strings.Repeat("*", len(jwt)-3) + " (ok)"},
		{"/v1/users/42", "sdk PK" + hrisKey[2:] + "/x", "/v1/users/42", "sdk PK_acmehris1_" + strings.Repeat("*", len(secret)) + "/x"},
	} {
		r := do(t, st.addr, "GET", tc.path, map[string]string{"X-API-Key": hrisKey, "User-Agent": tc.ua}, "")
		rec := st.sink.last(t)
		path, ua := string(rec.Path()), string(rec.UserAgent())
		if strings.Contains(path, secret) || strings.Contains(ua, secret) || strings.Contains(ua, jwt[3:]) {
			t.Errorf("status %d: the audit record holds the credential: path %q, user agent %q", r.status, path, ua)
		}
		if path != tc.wantPath || ua != tc.wantUA {
			t.Errorf("path %q, user agent %q; want %q, %q", path, ua, tc.wantPath, tc.wantUA)
		}
	}
}
