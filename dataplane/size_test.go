package dataplane

import (
	"strconv"
	"strings"
	"testing"

	"github.com/portcullis/portcullis/audit"
)

func TestBodyLimits(t *testing.T) {
	st := startStack(t, nil)
	big := strings.Repeat("x", 65*1024)
	if r := do(t, st.addr, "POST", "/v1/exports", key(adminKey), big); r.status != 413 {
		t.Errorf("65 KiB to a 64 KiB class: got %d, want 413", r.status)
	}
	if r := do(t, st.addr, "POST", "/v1/records", key(hrisKey), big); r.status != 200 {
		t.Errorf("65 KiB to a 1 MiB class: got %d, want 200", r.status)
	}
	// A declared length above the limit is refused before any body byte is
	// sent: the server must answer without waiting for the body.
	req := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + adminKey + "\r\nContent-Length: 10000000\r\n\r\n"
	if r := raw(t, st.addr, req); r.status != 413 {
		t.Errorf("declared 10 MB with no body: got %d, want 413", r.status)
	}
	if rec := st.sink.last(t); rec.Decision != audit.BodyTooLarge || rec.Route != "/v1/exports" || rec.Status != 413 {
		t.Errorf("audit record of the refused body: %+v", rec)
	}
	chunked := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-API-Key: " + adminKey + "\r\nTransfer-Encoding: chunked\r\n\r\n" +
		strconv.FormatInt(int64(len(big)), 16) + "\r\n" + big + "\r\n0\r\n\r\n"
	if r := raw(t, st.addr, chunked); r.status != 413 {
		t.Errorf("chunked 65 KiB to a 64 KiB class: got %d, want 413", r.status)
	}
	for _, u := range st.up.received() {
		if strings.HasPrefix(u.uri, "/v1/exports") {
			t.Errorf("an oversized export reached the upstream")
		}
	}
}
