package collector

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ed25519"
	"errors"
	"github.com/portcullis/portcullis/audit"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"google.golang.org/protobuf/encoding/protowire"
)

// Tokens of two senders, as in a --token-file.
const (
	aliceToken = "alice-token-0123456789abcdef0123456789"
	bobToken   = "bob-token-0123456789abcdef0123456789ab"
)

// startNamedCollector serves a Collector whose senders are the named
// tokens of a real token file, through the collector's own HTTPServer.
func startNamedCollector(t testing.TB, dir string, key ed25519.PrivateKey, cfg Config) (*httptest.Server, *Store) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(file, []byte("# senders\nalice "+aliceToken+"\n\nbob "+bobToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Log == nil {
		l := zerolog.New(zerolog.NewTestWriter(t))
		cfg.Log = &l
	}
	if cfg.Tokens, err = ParseTokenFile(data); err != nil {
		t.Fatal(err)
	}
	st, err := OpenStore(dir, StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	col, err := New(st, cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(col)
	hs := col.HTTPServer()
	srv.Config.ConnContext, srv.Config.ConnState = hs.ConnContext, hs.ConnState
	srv.Config.ReadHeaderTimeout = hs.ReadHeaderTimeout
	srv.Start()
	t.Cleanup(func() { srv.Close(); st.Close() })
	return srv, st
}

// encodeBatch encodes records as a sidecar would, under batch id id.
func encodeBatch(id string, recs ...audit.Record) []byte {
	return audit.EncodeBatch(nil, audit.Resource{Service: "svc", Host: "h", InstanceID: "i"}, id, recs...)
}

// post sends body to the collector and returns the status.
func post(t testing.TB, url, token string, body []byte, gz bool) int {
	t.Helper()
	if gz {
		var b bytes.Buffer
		zw := gzip.NewWriter(&b)
		zw.Write(body)
		zw.Close()
		body = b.Bytes()
	}
	req, _ := http.NewRequest(http.MethodPost, url+"/v1/logs", bytes.NewReader(body))
	req.Header.Set("Content-Type", FormatProtobuf)
	req.Header.Set("Authorization", "Bearer "+token)
	if gz {
		req.Header.Set("Content-Encoding", "gzip")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// The attacker's steps of issue 21 item 5: bob, holding a valid token,
// sends a record in alice's tenant under the batch id alice's sidecar will
// use next, dated a day back, and replays it. The record is stored as sent
// by bob, flagged for its time, stored once, and alice's real batch with
// the same id is stored too, before and after a restart.
func TestSenderAttribution(t *testing.T) {
	t.Parallel()
	dir, key := t.TempDir(), newTestKey(t)
	srv, st := startNamedCollector(t, dir, key, Config{})
	forged := sampleRecord(1)
	forged.Tenant, forged.Time = "alice-tenant", time.Now().Add(-24*time.Hour).UnixNano()
	forged.SetRequestID([]byte("forged"))
	real := sampleRecord(2)
	real.Tenant, real.Time = "alice-tenant", time.Now().UnixNano()
	real.SetRequestID([]byte("real"))
	for range 2 { // the second is a replay
		if got := post(t, srv.URL, bobToken, encodeBatch("alice-1", forged), false); got != 200 {
			t.Fatalf("bob's batch: status %d, want 200", got)
		}
	}
	if got := post(t, srv.URL, aliceToken, encodeBatch("alice-1", real), false); got != 200 {
		t.Fatalf("alice's batch: status %d, want 200", got)
	}
	if s := st.Stats(); s.Batches != 2 || s.Duplicates != 1 {
		t.Errorf("stats %+v, want 2 batches and 1 duplicate", s)
	}
	checkSenders := func() {
		t.Helper()
		got := map[string]StoredRecord{}
		for _, r := range storedRecords(t, dir) {
			got[r.RequestID] = r
		}
		if len(got) != 2 {
			t.Fatalf("stored %d distinct records, want 2", len(got))
		}
		if r := got["forged"]; r.Sender != "token:bob" || strings.Join(r.Flags, ",") != FlagTimeOutsideWindow {
			t.Errorf("forged record: sender %q flags %v, want token:bob [%s]", r.Sender, r.Flags, FlagTimeOutsideWindow)
		}
		if r := got["real"]; r.Sender != "token:alice" || len(r.Flags) != 0 {
			t.Errorf("real record: sender %q flags %v, want token:alice, no flags", r.Sender, r.Flags)
		}
	}
	checkSenders()
	var table, js bytes.Buffer
	if _, err := WriteRecords(&table, dir, Filter{}, OutputTable); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteRecords(&js, dir, Filter{}, OutputJSON); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"SENDER", "token:bob", "token:alice", FlagTimeOutsideWindow} {
		if !strings.Contains(table.String(), want) {
			t.Errorf("query table lacks %q:\n%s", want, table.String())
		}
	}
	if !strings.Contains(js.String(), `"sender":"token:bob"`) {
		t.Errorf("query json lacks the sender:\n%s", js.String())
	}
	var bobs int
	QueryRecords(dir, Filter{Sender: "token:bob"}, func(r *StoredRecord) error { bobs++; return nil })
	if bobs != 1 {
		t.Errorf("records filtered by sender token:bob: %d, want 1", bobs)
	}
	// After a restart the ids are still scoped: both replays are duplicates.
	srv.Close()
	st.Close()
	srv, st = startNamedCollector(t, dir, key, Config{})
	post(t, srv.URL, bobToken, encodeBatch("alice-1", forged), false)
	post(t, srv.URL, aliceToken, encodeBatch("alice-1", real), false)
	if s := st.Stats(); s.Batches != 0 || s.Duplicates != 2 {
		t.Errorf("after restart: stats %+v, want 0 batches and 2 duplicates", s)
	}
	checkSenders()
}

// A client certificate's identity is the sender.
func TestCertIdentity(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	cert := ca.client(t, "sidecar-7")
	leaf, err := parseLeaf(cert)
	if err != nil {
		t.Fatal(err)
	}
	if got := certIdentity(leaf); got != "sidecar-7" {
		t.Errorf("certIdentity = %q, want sidecar-7", got)
	}
}

// Tokens shorter than 32 bytes, reused tokens and bad token files are
// refused when the collector starts.
func TestCollectorTokenRules(t *testing.T) {
	t.Parallel()
	st, err := OpenStore(t.TempDir(), StoreConfig{SigningKey: newTestKey(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for _, cfg := range []Config{
		{Token: "short-token-of-31-bytes-0123456"},
		{Tokens: []SenderToken{{Name: "a", Token: aliceToken}, {Name: "b", Token: aliceToken}}},
		{Tokens: []SenderToken{{Name: "a", Token: aliceToken}, {Name: "a", Token: bobToken}}},
	} {
		if _, err := New(st, cfg); err == nil {
			t.Errorf("New(%d tokens) accepted a bad token set", len(cfg.Tokens))
		} else if strings.Contains(err.Error(), aliceToken) || strings.Contains(err.Error(), "0123456") {
			t.Errorf("error shows a token: %v", err)
		}
	}
	if _, err := New(st, Config{Token: aliceToken}); err != nil {
		t.Errorf("32-byte token refused: %v", err)
	}
	for _, bad := range []string{"a b c\n", "a b\nlonetoken\n", "bad/name tok\n"} {
		if _, err := ParseTokenFile([]byte(bad)); !errors.Is(err, ErrTokenFile) {
			t.Errorf("ParseTokenFile(%q) = %v, want ErrTokenFile", bad, err)
		}
	}
	if got, err := ParseTokenFile([]byte(aliceToken + "\n")); err != nil || len(got) != 1 || got[0].Name != "default" {
		t.Errorf("bare token file = %v, %v; want one token named default", got, err)
	}
}

// emptyRecords is a protobuf request of n empty log records: two bytes
// each on the wire.
func emptyRecords(n int) []byte {
	scope := bytes.Repeat([]byte{fSLLogRecords<<3 | 2, 0}, n)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// The gzip bomb of issue 21 item 7 (a few KB of gzip, a million empty
// records) and a record over the byte cap get 413, and nothing is stored.
func TestCollectorAmplificationCaps(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, st := startNamedCollector(t, dir, newTestKey(t), Config{MaxBodyBytes: 4 << 20, Limits: DecodeLimits{MaxRecordBytes: 4096}})
	if got := post(t, srv.URL, aliceToken, emptyRecords(1<<20), true); got != http.StatusRequestEntityTooLarge {
		t.Errorf("gzip bomb of 1M empty records: status %d, want 413", got)
	}
	big := sampleRecord(1)
	big.Route = strings.Repeat("r", 5000)
	if got := post(t, srv.URL, aliceToken, encodeBatch("big-1", big), false); got != http.StatusRequestEntityTooLarge {
		t.Errorf("record of 5000 bytes over a 4096 byte cap: status %d, want 413", got)
	}
	if got := post(t, srv.URL, aliceToken, emptyRecords(10_000), true); got != 200 {
		t.Errorf("10,000 records (the default cap): status %d, want 200", got)
	}
	if s := st.Stats(); s.Batches != 1 || s.Records != 10_000 {
		t.Errorf("stats %+v, want only the batch within the caps", s)
	}
}

// repeatedBody is one log record whose body field occurs n times.
func repeatedBody(n int) []byte {
	val := protowire.AppendBytes(protowire.AppendTag(nil, fAnyString, protowire.BytesType), bytes.Repeat([]byte{'x'}, 64))
	var rec []byte
	for range n {
		rec = protowire.AppendBytes(protowire.AppendTag(rec, fLRBody, protowire.BytesType), val)
	}
	scope := protowire.AppendBytes(protowire.AppendTag(nil, fSLLogRecords, protowire.BytesType), rec)
	rl := protowire.AppendBytes(protowire.AppendTag(nil, fRLScopeLogs, protowire.BytesType), scope)
	return protowire.AppendBytes(protowire.AppendTag(nil, fReqResourceLogs, protowire.BytesType), rl)
}

// A record repeating its body field n times decodes in work linear in its
// size (issue 21 item 8): the bytes allocated stay within a small multiple
// of the body, where copying the merged body again for every occurrence
// allocated n²/2 occurrences' worth (330 MB for this body of 200 KB).
// Not parallel: it reads the process's allocation counter.
func TestDecodeRepeatedFieldLinear(t *testing.T) {
	body := repeatedBody(3000)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	b, err := DecodeBatchContext(context.Background(), body, FormatProtobuf, DecodeLimits{MaxRecordBytes: 1 << 30})
	runtime.ReadMemStats(&after)
	if err != nil || len(b.Records) != 1 || b.Records[0].Body != strings.Repeat("x", 64) {
		t.Fatalf("decode: %v, %+v", err, b)
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(16*len(body)); got > limit {
		t.Errorf("decoding %d bytes allocated %d bytes, want at most %d", len(body), got, limit)
	}
}

// Decoding stops when the request's context ends.
func TestDecodeStopsWhenCancelled(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	recs := make([]audit.Record, 2*cancelCheck)
	for i := range recs {
		recs[i] = sampleRecord(i)
	}
	if _, err := DecodeBatchContext(ctx, encodeBatch("c-1", recs...), FormatProtobuf, DecodeLimits{}); !errors.Is(err, context.Canceled) {
		t.Errorf("decode with a cancelled context = %v, want context.Canceled", err)
	}
}

// The JSON form of the bomb (a body of empty records) is refused before it
// is decoded, and a JSON batch within the limits is not.
func TestJSONAmplificationCap(t *testing.T) {
	t.Parallel()
	bomb := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[` + strings.Repeat(`{},`, 20_000) + `{}]}]}]}`)
	if _, err := DecodeBatchContext(context.Background(), bomb, FormatJSON, DecodeLimits{MaxRecords: 100}); !errors.Is(err, ErrBatchTooLarge) {
		t.Errorf("JSON body of 20,001 empty records with a 100 record cap = %v, want ErrBatchTooLarge", err)
	}
	ok := []byte(`{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"stringValue":"{{{{\"{{"}}]}]}]}`)
	if b, err := DecodeBatchContext(context.Background(), ok, FormatJSON, DecodeLimits{MaxRecords: 1}); err != nil || len(b.Records) != 1 {
		t.Errorf("one record with braces in a string: %v", err)
	}
}
