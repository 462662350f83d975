package dataplane

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// The header lines the sidecar adds (X-Forwarded-For, X-Request-Id and the
// identity headers) are written into the request after its request line
// (wire.Write), not set in fasthttp's header map. Every way a request goes
// out gets them, each once, with the client's own copies (in any case)
// gone: the first request of a connection (written), a request on a
// pooled connection (encoded, sent by sendWait), one whose body overflows
// a buffer (written flush by flush), one whose head alone does (encoded
// whole) and a chunked one whose trailers forge them too (but
// X-Forwarded-For: fasthttp refuses that trailer, isBadTrailer, and the
// sidecar answers 400). The bodies arrive byte for byte.
func TestSidecarLinesOnEveryPath(t *testing.T) {
	st, up := startRecorded(t, nil)
	forged := "x-forwarded-for: 6.6.6.6\r\nX-Portcullis-Tenant: globex\r\nX-Portcullis-Client: globex-bi\r\n" +
		"X-Portcullis-Key-Id: forged\r\nX-Portcullis-Scopes: admin:settings\r\nX-Portcullis-Auth-Method: jwt\r\n"
	head := func(method, target, extra string) string {
		return method + " " + target + " HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + hrisKey + "\r\n" + forged + extra
	}
	big := strings.Repeat("0123456789abcdef", 10<<10/16)
	cases := []struct {
		name, request, body, reqID string // reqID "": the sidecar's own
	}{
		{"first on its connection", head("GET", "/v1/users/42", "x-request-id: client-id-1\r\n\r\n"), "", "client-id-1"},
		{"pooled", head("GET", "/v1/users/42", "X-REQUEST-ID: not a valid id!\r\n\r\n"), "", ""},
		{"body over a buffer", head("POST", "/v1/records", fmt.Sprintf("Content-Length: %d\r\n\r\n", len(big))) + big, big, ""},
		{"head over a buffer", head("GET", "/v1/users/42", "X-Pad: "+strings.Repeat("p", 6<<10)+"\r\n\r\n"), "", ""},
		{"chunked, forged trailers", head("POST", "/v1/records", "Transfer-Encoding: chunked\r\n\r\n") +
			"4\r\nbody\r\n0\r\n" + strings.TrimPrefix(forged, "x-forwarded-for: 6.6.6.6\r\n") + "X-Request-Id: trailer-id\r\n\r\n", "body", ""},
	}
	var firstFrom string
	for i, c := range cases {
		r := raw(t, st.addr, c.request)
		if r.status != 200 {
			t.Fatalf("%s: got %d %s, want 200", c.name, r.status, r.body)
		}
		got := up.only(t, i)
		if i == 0 {
			firstFrom = got.from
		} else if i == 1 && got.from != firstFrom {
			t.Fatalf("the second request came on another upstream connection (%s, first %s): the pooled path went untested", got.from, firstFrom)
		}
		reqID := r.header.Get("X-Request-Id")
		if c.reqID != "" && reqID != c.reqID {
			t.Errorf("%s: the client was told request id %q, want its own %q", c.name, reqID, c.reqID)
		}
		for name, want := range map[string]string{
			"x-forwarded-for": "127.0.0.1", "x-request-id": reqID,
			"x-portcullis-tenant": "acme", "x-portcullis-client": "acme-hris", "x-portcullis-key-id": "acmehris1",
			"x-portcullis-scopes": "read:users write:records", "x-portcullis-auth-method": "api_key",
		} {
			if vs := got.values(name); len(vs) != 1 || vs[0] != want {
				t.Errorf("%s: upstream %s = %q, want exactly [%q]", c.name, name, vs, want)
			}
		}
		if !bytes.Equal(got.body, []byte(c.body)) {
			t.Errorf("%s: upstream body is %d bytes, want the %d sent", c.name, len(got.body), len(c.body))
		}
		if len(got.trailer) > 0 {
			t.Errorf("%s: upstream got trailers %v", c.name, got.trailer)
		}
	}
}
