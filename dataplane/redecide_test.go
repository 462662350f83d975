package dataplane

import (
	"bufio"
	"io"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/policy"
)

// startRecordingHeldUpstream is startHeldUpstream recording each
// request's head as it came (its header lines, in order) on heads.
func startRecordingHeldUpstream(t *testing.T) (addr string, heads chan string, arrived, release chan struct{}) {
	t.Helper()
	heads, arrived, release = make(chan string, 8), make(chan struct{}, 8), make(chan struct{})
	addr = acceptEach(t, func(_ int, c net.Conn) {
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			var head strings.Builder
			n := 0
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					return
				}
				if line == "\r\n" {
					break
				}
				head.WriteString(line)
				if v, ok := strings.CutPrefix(strings.ToLower(line), "content-length:"); ok {
					n, _ = strconv.Atoi(strings.TrimSpace(v))
				}
			}
			io.CopyN(io.Discard, br, int64(n))
			heads <- head.String()
			arrived <- struct{}{}
			<-release
			if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"); err != nil {
				return
			}
		}
	}).Addr().String()
	return addr, heads, arrived, release
}

// Finding (review51): a request decided again with new tables at the end
// of its wait for an upstream connection (sendable, recheck.go) kept the
// header lines its first decision built: a push turning forward_token on
// meanwhile left its token removed, and one removing (or changing)
// upstream_host left the old Host. A request re-decided must go out as
// one decided first on the new tables does: each case sends the export
// that waits, then, after the push, the same request again, and the two
// heads the upstream got must be the same bytes. The queue's wait, whose
// new decision comes before the request is built, is held to it too.
func TestRedecidedRequestRebuiltFromNewTables(t *testing.T) {
	const host = "hr.internal:8080"
	cases := []struct {
		name          string
		before, after func(*policy.Document)
		want          string // a line the re-decided head must hold, or "-" and one it must not
	}{
		{"forward_token turned on", func(*policy.Document) {}, func(d *policy.Document) { d.Issuers[0].ForwardToken = true }, "Authorization: Bearer "},
		{"forward_token turned off", func(d *policy.Document) { d.Issuers[0].ForwardToken = true }, func(*policy.Document) {}, "-Authorization:"},
		{"upstream_host removed", func(d *policy.Document) { d.UpstreamHost = host }, func(*policy.Document) {}, "Host: svc\r\n"},
		{"upstream_host changed", func(d *policy.Document) { d.UpstreamHost = host }, func(d *policy.Document) { d.UpstreamHost = "hr2.internal:8080" }, "Host: hr2.internal:8080\r\n"},
		{"upstream_host added", func(*policy.Document) {}, func(d *policy.Document) { d.UpstreamHost = host }, "Host: " + host + "\r\n"},
	}
	token := mint(t, demoClaims("acme-admin", "acme", "export:data"))
	// The credential between two other lines: it must come back in its place.
	request := "POST /v1/exports HTTP/1.1\r\nHost: svc\r\nX-Trace: a\r\nAuthorization: Bearer " + token +
		"\r\nX-Request-ID: redecided\r\nAccept: */*\r\nConnection: close\r\n\r\n"
	for _, pool := range []bool{true, false} {
		for _, tc := range cases {
			w := &waitScene{pool: pool}
			t.Run(tc.name+" "+w.where(), func(t *testing.T) {
				w := &waitScene{pool: pool, first: make(chan reply, 1), second: make(chan reply, 1)}
				up, heads, arrived, release := startRecordingHeldUpstream(t)
				w.arrived, w.release = arrived, release
				w.st = startStack(t, func(c *Config) {
					c.Upstream = up
					if pool {
						c.MaxUpstreamConn, c.TenantMaxInFlight = 1, 4
					}
				})
				t.Cleanup(func() {
					if !w.released {
						close(w.release)
					}
				})
				swapDoc(t, w.st.store, func(d *policy.Document) { exportWait(pool)(d); tc.before(d) })
				w.hold(t, w.export(t, key(adminKey)))
				<-heads
				w.wait(t, func() reply { return raw(t, w.st.addr, request) })
				swapDoc(t, w.st.store, func(d *policy.Document) { exportWait(pool)(d); tc.after(d) })
				first, second := w.finish(t)
				if first.status != 200 || second.status != 200 {
					t.Fatalf("the exports answered %d and %d %q; want 200 and 200", first.status, second.status, second.body)
				}
				if r := raw(t, w.st.addr, request); r.status != 200 {
					t.Fatalf("the same export on the new tables answered %d %q; want 200", r.status, r.body)
				}
				var got [2]string
				for i := range got {
					select {
					case got[i] = <-heads:
					case <-time.After(10 * time.Second):
						t.Fatal("an export never reached the upstream")
					}
				}
				redecided, fresh := got[0], got[1]
				if want, ok := strings.CutPrefix(tc.want, "-"); ok && strings.Contains(redecided, want) || !ok && !strings.Contains(redecided, tc.want) {
					t.Errorf("%s while the export waited %s: the upstream got\n%s\nwant it with%s %q", tc.name, w.where(), redecided, map[bool]string{true: "out"}[ok], want)
				}
				if redecided != fresh {
					t.Errorf("%s while the export waited %s: the upstream got\n%s\nwhere the same request decided on the new tables gives\n%s", tc.name, w.where(), redecided, fresh)
				}
			})
		}
	}
}
