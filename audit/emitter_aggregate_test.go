package audit_test

import (
	. "github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/collector"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// The flood of issue 21 item 10 through a real emitter, spool and
// collector: while the collector is unreachable, 30,000 denials from three
// addresses fill the spool past half, then 200 records of a real caller
// arrive. None of the real records is dropped; once the collector is back,
// the stored denials add up exactly (count) to the 30,000, with one
// aggregated record per source, route, reason and second, and no record of
// the real caller is aggregated. The flood comes with no credential, and
// then with a made-up API key on every request: the outside attack on the
// first version of this folding found that any credential header, verified
// or not, kept a denial from being folded, so the flood pushed the real
// caller's records out.
//
// The flood from "one /64" sends each denial from another address of one
// IPv6 /64, which one host holds whole: the groups were keyed by the
// address, so each denial opened one, those past 4096 open groups passed
// unfolded, and the spool filled and dropped the real caller's records.
// A group is now keyed by an IPv6 source's /64.
func TestSpoolFloodAggregated(t *testing.T) {
	t.Parallel()
	three := []netip.Addr{netip.MustParseAddr("198.51.100.1"), netip.MustParseAddr("198.51.100.2"), netip.MustParseAddr("2001:db8::3")}
	threeSrcs := func(i int) netip.Addr { return three[i%3] }
	oneNet := func(i int) netip.Addr {
		return netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 0, 5, 0, 6, 8: byte(i >> 24), byte(i >> 16), byte(i >> 8), byte(i), 15: 1})
	}
	for _, c := range []struct {
		name      string
		bogusKeys bool
		src       func(int) netip.Addr
	}{
		{"no credential", false, threeSrcs},
		{"unverified keys", true, threeSrcs},
		{"one /64", false, oneNet},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			spoolFlood(t, c.bogusKeys, c.src)
		})
	}
}

func spoolFlood(t *testing.T, bogusKeys bool, src func(int) netip.Addr) {
	dir, url, up := downCollector(t)
	cfg := FastConfig(url, t.TempDir())
	cfg.Token, cfg.SpoolMaxBytes, cfg.CloseTimeout = aliceToken, 512<<10, time.Minute
	e, err := NewEmitter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	emit := func(r *Record) {
		for !e.Emit(r) {
			time.Sleep(time.Millisecond)
		}
	}
	const flood, real = 30_000, 200
	for i := range flood {
		var r Record
		r.Time, r.Status, r.Decision, r.SourceIP, r.Route = time.Now().UnixNano(), 401, Unauthenticated, src(i), "/v1/users"
		if bogusKeys {
			r.AuthMethod = AuthAPIKey // "X-API-Key: pk_<i>_x": parsed, never verified
			r.SetKeyID([]byte(strconv.Itoa(i)))
		}
		r.SetMethod([]byte("GET"))
		r.SetPath([]byte("/v1/users"))
		emit(&r)
	}
	for i := range real {
		r := SampleRecord(i)
		r.Time, r.Status, r.Decision = time.Now().UnixNano(), 401, Unauthenticated // a client's wrong key is still its credential
		r.SetRequestID([]byte("real-" + strconv.Itoa(i)))
		emit(&r)
	}
	deliverAfterFlood(t, e, up, flood+real, "denials")
	type group struct {
		src, route, decision string
		sec                  int64
	}
	seen := map[group]bool{}
	var denials int64
	realSeen := 0
	for _, r := range storedRecords(t, dir) {
		if strings.HasPrefix(r.RequestID, "real-") {
			realSeen++
			if r.Count != 0 {
				t.Errorf("record %s of the real caller aggregated (count %d)", r.RequestID, r.Count)
			}
			continue
		}
		denials += max(r.Count, 1)
		if r.Count > 1 {
			g := group{r.SourceIP, r.Route, r.Decision, r.Time.Unix()}
			if seen[g] {
				t.Errorf("two aggregated records for %+v", g)
			}
			seen[g] = true
		}
	}
	if denials != flood || realSeen != real {
		t.Errorf("stored denials add up to %d, want %d; real records %d, want %d", denials, flood, realSeen, real)
	}
}

// downCollector is a real store and collector behind a gate that answers
// 503 until up is set: the collector of a flood, down while it comes.
func downCollector(t *testing.T) (dir, url string, up *atomic.Bool) {
	dir = t.TempDir()
	st, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	col, err := collector.New(st, collector.Config{Token: aliceToken})
	if err != nil {
		t.Fatal(err)
	}
	up = new(atomic.Bool)
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		col.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { gate.Close(); st.Close() })
	return dir, gate.URL, up
}

// deliverAfterFlood waits for the total records captured to reach the
// spool (groups stay open until their second is over, and a grace
// period), checks none was dropped and some (the folded ones, named by
// what) were aggregated, brings the collector up and closes e, and checks
// every record was delivered or folded.
func deliverAfterFlood(t *testing.T, e *Emitter, up *atomic.Bool, total uint64, what string) {
	t.Helper()
	WaitFor(t, "everything captured to reach the spool", func() bool {
		s := e.Stats()
		return s.Spooled+s.Aggregated+s.DroppedSpool >= total
	})
	if s := e.Stats(); s.DroppedSpool != 0 || s.Aggregated == 0 {
		t.Fatalf("while the collector was down: %+v; want nothing dropped and %s aggregated", s, what)
	}
	up.Store(true)
	e.Close()
	if s := e.Stats(); s.DroppedSpool != 0 || s.Rejected != 0 || s.Delivered+s.Replayed+s.Aggregated != total {
		t.Errorf("after close: %+v", s)
	}
}
