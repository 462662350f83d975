package collector

import (
	"crypto/ed25519"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	resourcepb "go.opentelemetry.io/proto/otlp/resource/v1"
)

// logsBody marshals records as one OTLP logs request of a hostile sender,
// which need not keep to the sidecar's field sizes, under batch id id.
func logsBody(t *testing.T, id string, recs ...*logspb.LogRecord) []byte {
	t.Helper()
	return mustMarshal(t, &logspb.LogsData{ResourceLogs: []*logspb.ResourceLogs{{
		Resource:  &resourcepb.Resource{Attributes: []*commonpb.KeyValue{kv(audit.AttrBatchID, sv(id))}},
		ScopeLogs: []*logspb.ScopeLogs{{LogRecords: recs}},
	}}})
}

// The README promises that a record's fields over the sidecar's sizes
// are cut and flagged "truncated": a hostile sender posts, over HTTP, one
// record per text field with that field far over every cap. Each is
// stored cut to its cap, never to nothing, and flagged. (The approval id,
// added after the caps, was once stored whole; the table must name every
// text field.)
func TestEveryTextFieldCutAndFlagged(t *testing.T) {
	t.Parallel()
	names := map[attrField]string{
		attrMethod: audit.AttrMethod, attrRoute: audit.AttrRoute, attrPath: audit.AttrPath,
		attrSourceIP: audit.AttrSourceIP, attrUserAgent: audit.AttrUserAgent, attrTenant: audit.AttrTenant,
		attrClient: audit.AttrClient, attrKeyID: audit.AttrKeyID, attrAuthMethod: audit.AttrAuthMethod,
		attrDecision: audit.AttrDecision, attrRequestID: audit.AttrRequestID, attrIssuer: audit.AttrIssuer,
		attrTokenFingerprint: audit.AttrTokenFingerprint, attrApprovalID: audit.AttrApprovalID,
		attrLimit: audit.AttrLimit, attrCertSerial: audit.AttrCertSerial, attrCertIssuer: audit.AttrCertIssuer,
		attrCut: audit.AttrCut,
	}
	if len(names) != int(numTextAttrs) {
		t.Fatalf("the test names %d text fields, the decoder has %d: name the new one", len(names), numTextAttrs)
	}
	dir := t.TempDir()
	srv, _ := startNamedCollector(t, dir, newTestKey(t), Config{})
	long := strings.Repeat("a", 4000)
	now := uint64(time.Now().UnixNano())
	var recs []*logspb.LogRecord
	for f := range numTextAttrs {
		recs = append(recs, &logspb.LogRecord{TimeUnixNano: now, Attributes: []*commonpb.KeyValue{
			kv(names[f], sv(long)), kv(audit.AttrStatus, &commonpb.AnyValue{Value: &commonpb.AnyValue_IntValue{IntValue: int64(f)}}),
		}})
	}
	if code := post(t, srv.URL, aliceToken, logsBody(t, "caps-1", recs...), false); code != http.StatusOK {
		t.Fatalf("status %d, want 200", code)
	}
	got := storedRecords(t, dir)
	if len(got) != int(numTextAttrs) {
		t.Fatalf("stored %d records, want %d", len(got), numTextAttrs)
	}
	for i := range got {
		r := &got[i]
		f := attrField(r.Status)
		if n := len(*r.textField(f)); n == 0 || n != textCaps[f] || n >= len(long) {
			t.Errorf("%s stored with %d bytes, want it cut to its cap of %d", names[f], n, textCaps[f])
		}
		if !slices.Contains(r.Flags, FlagTruncated) {
			t.Errorf("%s cut, flags %q, want %q", names[f], r.Flags, FlagTruncated)
		}
	}
}

// TestAcceptedBatchStaysReadable: an acknowledged batch is stored for
// good, so the store must be able to read back every entry it writes;
// segment lines are read with at most MaxEntryBytes (64 MiB). The fault:
// nothing bounds a batch's entry, and JSON escaping makes a stored byte
// up to six (`<` is \u003c), so a batch within every intake limit (13 MB
// of 16 MiB, 64 KiB records of foreign attributes full of '<', a few KB
// gzip'd) is acknowledged as a line of about 77 MB: query and verify
// fail on it, and a restarted collector breaks its chain there, losing
// the acknowledged batches after it.
func TestAcceptedBatchStaysReadable(t *testing.T) {
	dir := t.TempDir()
	key := newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	recs := make([]*logspb.LogRecord, 200)
	now := uint64(time.Now().UnixNano())
	for i := range recs {
		attrs := make([]*commonpb.KeyValue, 50)
		for j := range attrs {
			attrs[j] = kv(strings.Repeat("<", 250)+fmt.Sprintf("%04d", j), sv(strings.Repeat("<", maxForeignValue)))
		}
		recs[i] = &logspb.LogRecord{TimeUnixNano: now, Attributes: attrs}
	}
	big := post(t, srv.URL, aliceToken, logsBody(t, "big-1", recs...), true)
	if big != http.StatusOK && big != http.StatusRequestEntityTooLarge {
		t.Fatalf("large batch: status %d, want 200 (stored) or 413 (refused)", big)
	}
	if code := post(t, srv.URL, aliceToken, encodeBatch("small-1", sampleRecord(1)), false); code != http.StatusOK {
		t.Fatalf("small batch after it: status %d, want 200", code)
	}
	srv.Close()
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	want := 1
	if big == http.StatusOK {
		want += len(recs)
	}
	checkReadable(t, dir, key, want)
	// A restarted collector keeps both, and its chain stays whole.
	st2, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	if s := st2.Stats(); s.Breaks != 0 {
		t.Errorf("reopened store recorded %d breaks, want 0", s.Breaks)
	}
	st2.Close()
	checkReadable(t, dir, key, want)
}

// checkReadable checks that the store in dir verifies and holds want
// records.
func checkReadable(t *testing.T, dir string, key ed25519.PrivateKey, want int) {
	t.Helper()
	rep, err := Verify(dir, key.Public().(ed25519.PublicKey))
	if err != nil || !rep.OK() {
		t.Errorf("verify: err %v, problems %v", err, rep)
	}
	n := 0
	err = QueryRecords(dir, Filter{}, func(*StoredRecord) error { n++; return nil })
	if err != nil || n != want {
		t.Errorf("query: %d records, err %v; want %d records", n, err, want)
	}
}

// TestConcurrentSendersKeepTheirRecords: batches of several senders, long
// and short in turn, posted at once, so that the intake's reused body and
// record buffers pass from one sender's batch to another's: every stored
// record is the one its sender sent, filed under that sender, and the
// chain verifies.
func TestConcurrentSendersKeepTheirRecords(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key := newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	senders := map[string]string{"alice": aliceToken, "bob": bobToken}
	const workers, batches = 3, 8
	errs := make(chan error, len(senders)*workers*batches)
	var wg sync.WaitGroup
	for name, token := range senders {
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range batches {
					n := 40 - 37*(i%2) // 40 records, then 3
					recs := make([]audit.Record, n)
					for j := range recs {
						recs[j] = sampleRecord(j)
						recs[j].Tenant = fmt.Sprintf("%s-%d-%d", name, w, i)
						recs[j].SetRequestID(fmt.Appendf(nil, "%s-%d-%d-%d", name, w, i, j))
						if j%2 == 0 {
							recs[j].SetPath(fmt.Appendf(nil, "/%s/%0*d", name, 100+j, j))
						}
					}
					if code := post(t, srv.URL, token, encodeBatch(fmt.Sprintf("b-%d-%d", w, i), recs...), i%3 == 0); code != http.StatusOK {
						errs <- fmt.Errorf("%s batch %d-%d: status %d", name, w, i, code)
					}
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	got := storedRecords(t, dir)
	if want := len(senders) * workers * batches / 2 * (40 + 3); len(got) != want {
		t.Fatalf("stored %d records, want %d", len(got), want)
	}
	for _, r := range got {
		var name string
		var w, i, j int
		if _, err := fmt.Sscanf(strings.ReplaceAll(r.RequestID, "-", " "), "%s %d %d %d", &name, &w, &i, &j); err != nil {
			t.Fatalf("request id %q: %v", r.RequestID, err)
		}
		sample := sampleRecord(j)
		wantPath := sample.Path()
		if j%2 == 0 {
			wantPath = fmt.Appendf(nil, "/%s/%0*d", name, 100+j, j)
		}
		if r.Sender != "token:"+name || r.Tenant != fmt.Sprintf("%s-%d-%d", name, w, i) || r.Path != string(wantPath) {
			t.Fatalf("record %q stored as sender %q, tenant %q, path %q", r.RequestID, r.Sender, r.Tenant, r.Path)
		}
	}
	st.Close()
	checkReadable(t, dir, key, len(got))
}
