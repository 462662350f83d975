package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// signingKey returns a new ed25519 key for a collector store.
func signingKey(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// signingKeyFile writes a new signing key file, as audit keygen does, in
// a directory of its own, and returns its path and the key read back as
// the collector reads it.
func signingKeyFile(t *testing.T) (string, ed25519.PrivateKey) {
	t.Helper()
	keyFile := filepath.Join(t.TempDir(), "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	key, err := collector.LoadPrivateKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return keyFile, key
}

// auditStore opens a new audit store in dir, signed with the key of a new
// signingKeyFile. The caller closes the store.
func auditStore(t *testing.T, dir string) *collector.Store {
	t.Helper()
	_, key := signingKeyFile(t)
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key})
	if err != nil {
		t.Fatal(err)
	}
	return store
}

// openDetection opens the collector store in dir signed with key and
// starts detection on it as the collector command does: on the rules of
// the policy file, or with file "" of the policy in etcd through admin.
// The caller closes the store.
func openDetection(t *testing.T, ctx context.Context, dir string, key ed25519.PrivateKey, file string, admin *etcdadmin.Admin) (*collector.Store, *detection) {
	t.Helper()
	var det detection
	store, err := collector.OpenStore(dir, collector.StoreConfig{SigningKey: key, Detection: det.hooks()})
	if err != nil {
		t.Fatal(err)
	}
	log := zerolog.Nop()
	if err := det.start(ctx, file, admin, "test etcd", dir, store, &log); err != nil {
		store.Close()
		t.Fatal(err)
	}
	return store, &det
}

// followEvents runs the collector's follower of the lifecycle events in
// etcd into store (its revision file in dir) until stop, which waits for
// it to return.
func followEvents(ctx context.Context, admin *etcdadmin.Admin, store *collector.Store, dir string) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		collector.ForwardEvents(ctx, admin, store, dir+"/events.rev", zerolog.Nop())
	}()
	return func() { cancel(); <-done }
}

// guesses returns 25 requests refused as unauthenticated, step apart from
// at, with keyID from ip: the burst that opens a token-guessing-client
// alert. Their request ids are reqPrefix and the index.
func guesses(at time.Time, step time.Duration, keyID, ip, reqPrefix string) []collector.StoredRecord {
	recs := make([]collector.StoredRecord, 0, 25)
	for i := range 25 {
		recs = append(recs, collector.StoredRecord{Time: at.Add(time.Duration(i) * step), Method: "GET", Route: "/v1/users",
			Status: 401, Decision: "unauthenticated", KeyID: keyID, SourceIP: ip, RequestID: fmt.Sprintf("%s%d", reqPrefix, i)})
	}
	return recs
}

// probes returns 6 requests of acme-hris (key acmehris1) refused
// tenant_mismatch, step apart from at, from ip: a path naming globex, the
// burst that opens a tenant-probe alert. Their request ids are reqPrefix
// and the index.
func probes(at time.Time, step time.Duration, ip, reqPrefix string) []collector.StoredRecord {
	recs := make([]collector.StoredRecord, 0, 6)
	for i := range 6 {
		recs = append(recs, collector.StoredRecord{Time: at.Add(time.Duration(i) * step), Method: "GET", Route: "/v1/tenants/{tenant}/users",
			Path: "/v1/tenants/globex/users", Status: 403, Decision: "tenant_mismatch", Tenant: "acme", Client: "acme-hris", KeyID: "acmehris1",
			AuthMethod: "api_key", SourceIP: ip, RequestID: fmt.Sprintf("%s%d", reqPrefix, i)})
	}
	return recs
}

// appendBatch stores recs as the batch id from sender token:a.
func appendBatch(t *testing.T, store *collector.Store, id string, recs []collector.StoredRecord) {
	t.Helper()
	if err := store.AppendBatch(&collector.Batch{ID: id, Sender: "token:a", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

// alertID returns the id of the last alert of rule the engine holds, of
// tenant unless it is "", or fails the test.
func alertID(t *testing.T, det *detection, rule, tenant string) string {
	t.Helper()
	var id string
	for _, a := range det.engine.Alerts() {
		if a.Rule == rule && (tenant == "" || a.Tenant == tenant) {
			id = a.ID
		}
	}
	if id == "" {
		t.Fatalf("no %s alert (tenant %q) in %+v", rule, tenant, det.engine.Alerts())
	}
	return id
}

// etcdCollector is a collector store with detection on the rules of the
// policy in a real etcd and the follower of the lifecycle events in etcd
// running, as the collector command runs with --etcd and no --policy.
type etcdCollector struct {
	admin *etcdadmin.Admin
	dir   string
	store *collector.Store
	det   *detection
	rev   int64 // the revision of the policy pushed at the start
}

// startEtcdCollector pushes the policy doc to a real etcd under prefix and
// starts an etcdCollector on it; all of it stops when the test ends.
func startEtcdCollector(t *testing.T, prefix string, doc []byte) *etcdCollector {
	t.Helper()
	_, admin := etcdAdmin(t, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	rev, err := admin.PushPolicy(ctx, doc, 0, etcdadmin.Meta{Actor: "alice", Reason: "test"})
	if err != nil {
		t.Fatal(err)
	}
	c := &etcdCollector{admin: admin, dir: t.TempDir(), rev: rev}
	c.store, c.det = openDetection(t, ctx, c.dir, signingKey(t), "", admin)
	t.Cleanup(func() { c.store.Close() })
	t.Cleanup(followEvents(ctx, admin, c.store, c.dir))
	return c
}

// containProbing stores acme-hris's probes of globex's paths (key
// acmehris1) and waits until the action of its rule contains the
// tenant-probe alert they open; it returns the alert's id. (Guesses of a
// secret under a key id contain nothing: anyone can send them,
// alert.TestContainmentNeedsVerifiedClient.)
func (c *etcdCollector) containProbing(t *testing.T) string {
	t.Helper()
	appendBatch(t, c.store, "b1", probes(time.Now().UTC(), time.Millisecond, "203.0.113.9", "r"))
	id := alertID(t, c.det, "tenant-probe", "")
	pollUntil(t, pollWait, "alert "+id+" contained", func() (bool, string) {
		a, _ := c.det.engine.Alert(id)
		return a.Status == alert.StatusContained, fmt.Sprintf("%+v", a)
	})
	return id
}
