package dataplane

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/portcullis/portcullis/audit"
	"github.com/portcullis/portcullis/policy"
)

// waitScene is a sidecar in front of an upstream that holds every request
// until release: a first export holds what a second must wait for, the
// one slot of the bulk class (in its queue, max_wait 10s) or the one
// upstream connection (the pool's cap, MaxUpstreamConn 1, waited for up
// to the upstream timeout), so that a test can change what the second was
// decided on while it waits, between its decision and its sending.
type waitScene struct {
	st               *stack
	arrived, release chan struct{}
	released         bool
	pool             bool // the second waits for the upstream connection, not for a slot
	first, second    chan reply
}

// exportWait is the bulk class as a waitScene has it: no rate to speak
// of, and, unless the scene waits at the pool, one export in flight and
// a queue.
func exportWait(pool bool) func(*policy.Document) {
	return func(d *policy.Document) {
		for i := range d.Classes {
			if d.Classes[i].Name == "bulk" {
				d.Classes[i].Limit = &policy.LimitSpec{Rate: "1000/s", Burst: 1000}
				d.Classes[i].Concurrency = &policy.ConcurrencySpec{Max: 1, Queue: 2, MaxWait: "10s"}
				if pool {
					d.Classes[i].Concurrency = nil
				}
			}
		}
	}
}

// tenantExports is a waitScene's policy (exportWait) with a bulk route
// POST /v1/tenants/<seg>/exports: "{org}" binds nothing, "{tenant}" the
// caller's tenant, for the tests of a push that makes a waiting
// request's route bind {tenant}.
func tenantExports(pool bool, seg string) func(*policy.Document) {
	return func(d *policy.Document) {
		d.Routes = append(append([]policy.RouteSpec(nil), d.Routes...),
			policy.RouteSpec{Method: "POST", Path: "/v1/tenants/" + seg + "/exports", Class: "bulk", Scopes: []string{"export:data"}})
		exportWait(pool)(d)
	}
}

func newWaitScene(t *testing.T, pool bool) *waitScene {
	t.Helper()
	return newWaitSceneWith(t, pool, nil)
}

// newWaitSceneWith is newWaitScene with the sidecar's Config changed by
// mutate.
func newWaitSceneWith(t *testing.T, pool bool, mutate func(*Config)) *waitScene {
	t.Helper()
	w := &waitScene{pool: pool, first: make(chan reply, 1), second: make(chan reply, 1)}
	var up string
	up, w.arrived, w.release = startHeldUpstream(t)
	w.st = startStack(t, func(c *Config) {
		c.Upstream = up
		if pool {
			// One tenant's two exports: its cap (TenantMaxInFlight, half
			// the pool by default) is raised so that the second waits at
			// the pool.
			c.MaxUpstreamConn, c.TenantMaxInFlight = 1, 4
		}
		if mutate != nil {
			mutate(c)
		}
	})
	swapDoc(t, w.st.store, exportWait(pool))
	t.Cleanup(func() {
		if !w.released {
			close(w.release)
		}
	})
	return w
}

// export returns the sending of an export with the headers cred.
func (w *waitScene) export(t *testing.T, cred map[string]string) func() reply {
	return func() reply { return do(t, w.st.addr, "POST", "/v1/exports", cred, "") }
}

// hold sends the first export and waits for it at the upstream.
func (w *waitScene) hold(t *testing.T, send func() reply) {
	t.Helper()
	go func() { w.first <- send() }()
	select {
	case <-w.arrived:
	case <-time.After(10 * time.Second):
		t.Fatal("the first export never reached the upstream")
	}
}

// wait sends the second export and returns once it was admitted and
// waits: in its class's queue, or, past its decision (its tenant's second
// request in flight), for the upstream connection.
func (w *waitScene) wait(t *testing.T, send func() reply) {
	t.Helper()
	go func() { w.second <- send() }()
	if !w.pool {
		waitQueued(t, w.st.srv, 1)
		return
	}
	snap := w.st.store.Load()
	n := w.st.srv.prepared.Load().tenantFlight[snap.Clients["acme-admin"].Tenant.Index]
	for deadline := time.Now().Add(10 * time.Second); n.Load() != 2; time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("acme's requests in flight stayed %d for 10s, want 2", n.Load())
		}
	}
}

// finish lets the first export go and returns both answers.
func (w *waitScene) finish(t *testing.T) (first, second reply) {
	t.Helper()
	close(w.release)
	w.released = true
	for _, r := range []*reply{&first, &second} {
		ch := w.first
		if r == &second {
			ch = w.second
		}
		select {
		case *r = <-ch:
		case <-time.After(15 * time.Second):
			t.Fatal("an export got no answer for 15s")
		}
	}
	return first, second
}

// check fails t unless the first export was answered 200, the second
// status with its audit record (by its request id) saying decision, and
// nothing more reached the upstream; what is the change made while the
// second waited.
func (w *waitScene) check(t *testing.T, what string, first, second reply, id string, status int, decision audit.Decision) {
	t.Helper()
	if first.status != 200 || second.status != status || len(w.arrived) != 0 {
		t.Fatalf("%s while its export waited %s: the exports answered %d and %d %q and %d more request(s) reached the upstream; want 200 and %d, and none",
			what, w.where(), first.status, second.status, second.body, len(w.arrived), status)
	}
	if got := w.st.sink.withRequestID(t, id).Decision; got != decision {
		t.Errorf("%s while its export waited %s: audited %s, want %s", what, w.where(), got, decision)
	}
}

// swapNext compiles doc with the live keys and makes it current, as the
// next revision.
func swapNext(t *testing.T, store *policy.Store, doc *policy.Document, keys ...policy.KeySpec) {
	t.Helper()
	snap, err := policy.Compile(doc, policy.Live{Revision: store.Load().Revision + 1, Keys: keys})
	if err != nil {
		t.Fatal(err)
	}
	store.Swap(snap)
}

// where names the wait of a scene in a failure.
func (w *waitScene) where() string {
	if w.pool {
		return "for the upstream connection"
	}
	return "in its class's queue"
}

// Finding (review44, left by review40): a request admitted and then
// waiting for an upstream connection (the pool at --upstream-max-conns,
// up to the upstream timeout) was sent on the decision it got before the
// wait: a key revoked, a token's jti revoked, a client suspended or a
// scope withdrawn meanwhile was served. recheck.go judges it again with
// the connection in hand, before a byte is written; the queue's case
// (TestRevocationReachesQueuedRequests) holds through the same check.
func TestRevocationReachesRequestsWaitingForTheUpstream(t *testing.T) {
	revokeWhileWaiting(t, true)
}

// revokeWhileWaiting holds an export at the upstream, gets a second one,
// of the same credential, waiting (at the pool, or in its class's queue),
// revokes its key or its token's jti, suspends its client or withdraws
// its scope, through the policy store as etcd's watch does, and lets the
// first go: the second must be refused with the decision of that change,
// and nothing more reach the upstream.
func revokeWhileWaiting(t *testing.T, pool bool) {
	token := mint(t, demoClaims("acme-admin", "acme", "export:data"))
	cases := []struct {
		name     string
		cred     map[string]string
		live     policy.Live            // what etcd delivers while the request waits
		push     func(*policy.Document) // or a push of the document
		status   int
		decision audit.Decision
	}{
		{"key revoked", key(adminKey), policy.Live{RevokedKeys: map[string]bool{"acmeadm1": true}}, nil, 401, audit.KeyRevoked},
		{"token jti revoked", bearer(token), policy.Live{RevokedJTIs: map[string]bool{"jti-acme-admin": true}}, nil, 401, audit.Unauthenticated},
		{"client suspended", key(adminKey), policy.Live{Suspended: map[string]struct{}{"acme-admin": {}}}, nil, 403, audit.Suspended},
		{"scope withdrawn by a push", key(adminKey), policy.Live{}, func(d *policy.Document) {
			for i := range d.Clients {
				if d.Clients[i].ID == "acme-admin" {
					d.Clients[i].Scopes = []string{"admin:settings"}
				}
			}
		}, 403, audit.Forbidden},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := newWaitScene(t, pool)
			w.hold(t, w.export(t, tc.cred))
			cred := map[string]string{"X-Request-ID": "revoked-while-waiting"}
			for k, v := range tc.cred {
				cred[k] = v
			}
			w.wait(t, w.export(t, cred))
			if tc.push != nil {
				swapDoc(t, w.st.store, func(d *policy.Document) { exportWait(pool)(d); tc.push(d) })
			} else {
				prev := w.st.store.Load()
				live := tc.live
				live.Revision = prev.Revision + 1
				next, err := policy.Amend(prev, live, nil)
				if err != nil {
					t.Fatal(err)
				}
				w.st.store.Swap(next)
			}
			first, second := w.finish(t)
			w.check(t, tc.name, first, second, "revoked-while-waiting", tc.status, tc.decision)
		})
	}
}

// Finding (review44, left by review40): a credential valid on arrival
// and expired by the time its request left the wait, for a slot in its
// class's queue (max_wait, up to 5 minutes) or for an upstream
// connection, was forwarded: a token past its exp (with the issuer's
// clock_skew) or a key past its not_after reached the service. The
// credential must be valid when the request is sent: recheck.go judges
// it again at the end of the wait, and it is refused as an expired one
// is on arrival (401, audited unauthenticated; the token counted expired).
// Real time passes: the token's exp and the key's not_after are two
// seconds after the test starts, with a clock_skew of 1s.
func TestCredentialExpiredWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		for _, kind := range []string{"token", "key"} {
			w := &waitScene{pool: pool}
			t.Run(kind+" "+w.where(), func(t *testing.T) {
				t.Parallel()
				w := newWaitScene(t, pool)
				ends := time.Now().Add(2 * time.Second)
				var cred map[string]string
				doc := *w.st.store.Load().Doc
				doc.Issuers = append([]policy.IssuerSpec(nil), doc.Issuers...)
				doc.Issuers[0].ClockSkew = "1s"
				if kind == "token" {
					claims := demoClaims("acme-admin", "acme", "export:data")
					claims["exp"] = ends.Unix()
					cred = bearer(mint(t, claims))
					ends = time.Unix(ends.Unix(), 0).Add(time.Second) // exp, in seconds, and the skew
					swapNext(t, w.st.store, &doc)
				} else {
					k, spec := mustKey(t, "acme-admin", time.Now().Add(-time.Minute), ends)
					cred = key(k)
					swapNext(t, w.st.store, &doc, spec)
				}
				w.hold(t, w.export(t, key(adminKey)))
				cred["X-Request-ID"] = "expired-while-waiting"
				w.wait(t, w.export(t, cred))
				for time.Now().Before(ends.Add(100 * time.Millisecond)) {
					time.Sleep(50 * time.Millisecond)
				}
				first, second := w.finish(t)
				w.check(t, "a "+kind+" valid on arrival expired", first, second, "expired-while-waiting", 401, audit.Unauthenticated)
				const expired = "\nportcullis_jwt_refused_total{status=\"expired\"} 1\n"
				if page := scrape(t, w.st.srv); kind == "token" && !strings.Contains(page, expired) {
					t.Errorf("/metrics does not count the token expired: no %q", expired[1:])
				}
			})
		}
	}
}

// Finding (review44): a token verified on arrival was sent after its
// issuer's refreshed JWKS dropped the key that signed it (a provider
// taking out a compromised key), if its request was waiting meanwhile;
// a request after the refresh is refused (the verifier's cache keeps a
// token only while its issuer's keys stand). recheck.go asks the
// verifier (jwt.Verifier.Current) and verifies the token again.
func TestTokenKeyDroppedWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		w := &waitScene{pool: pool}
		t.Run(w.where(), func(t *testing.T) {
			w := newWaitScene(t, pool)
			next, err := newEd25519Key()
			if err != nil {
				t.Fatal(err)
			}
			both := nextKeySet(next)
			var set atomic.Pointer[string]
			set.Store(&both)
			serveJWKS(t, w.st, &set) // jwks_kid_test.go: the example policy reading the keys from there
			doc := *w.st.store.Load().Doc
			doc.Classes = append([]policy.ClassSpec(nil), doc.Classes...)
			exportWait(pool)(&doc)
			swapNext(t, w.st.store, &doc)
			if err := w.st.srv.prepared.Load().verifier.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			claims := demoClaims("acme-admin", "acme", "export:data")
			claims["jti"] = "signed-by-the-dropped-key"
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"Authorization": "Bearer " + signDemo(t, next, claims), "X-Request-ID": "key-dropped-while-waiting"}))
			old := demoJWKS
			set.Store(&old)
			if err := w.st.srv.prepared.Load().verifier.Refresh(t.Context()); err != nil {
				t.Fatal(err)
			}
			first, second := w.finish(t)
			w.check(t, "its signing key dropped from the JWKS", first, second, "key-dropped-while-waiting", 401, audit.Unauthenticated)
		})
	}
}

// Finding (review44): a request authenticated by its connection's client
// certificate was sent after a CRL loaded meanwhile revoked that
// certificate, if it was waiting; the connection's next request is
// refused (begin checks the certificate again for each). recheck.go
// checks it again at the end of the wait: 401, audited cert_revoked.
func TestCertificateRevokedWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		w := &waitScene{pool: pool}
		t.Run(w.where(), func(t *testing.T) {
			c := newCRLCase(t)
			now := time.Now()
			w := newWaitSceneWith(t, pool, func(cfg *Config) {
				cfg.TLS = withCRL(t, c.files, crlPEM(c.clientCA.crl(t, now.Add(-time.Hour), now.Add(time.Hour))))
			})
			swapDoc(t, w.st.store, func(d *policy.Document) { mtlsPolicy(d); exportWait(pool)(d) })
			send := func(id string) func() reply {
				return func() reply {
					r, err := tlsCall(t, w.st.addr, c.roots, &c.admin.tls, "POST", "/v1/exports", map[string]string{"X-Request-ID": id})
					if err != nil {
						t.Errorf("export %s: %v", id, err)
					}
					return r
				}
			}
			w.hold(t, send("held-at-the-upstream"))
			w.wait(t, send("revoked-while-waiting"))
			writeFile(t, c.files.ClientCRLFile, crlPEM(c.clientCA.crl(t, now, now.Add(time.Hour), c.admin.serial)))
			pollUntil(t, "a new handshake of the certificate the new CRL revokes is refused", func() (bool, string) {
				status, err := served(t, w.st.addr, c.roots, &c.admin, "GET", "/v1/users/7")
				return err != nil, fmt.Sprintf("status %d", status)
			})
			first, second := w.finish(t)
			w.check(t, "its client certificate revoked by a CRL", first, second, "revoked-while-waiting", 401, audit.CertRevoked)
		})
	}
}

// Finding (review44): staleness.action deny refuses a credentialed
// request when the sidecar has not heard from etcd for staleness.max_age,
// but only on arrival: one admitted just before, and waiting while the
// sidecar stayed deaf past the bound, was sent on tables it can no longer
// vouch for. recheck.go applies the bound at the end of the wait: 503
// policy_stale.
func TestPolicyStaleWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		w := &waitScene{pool: pool}
		t.Run(w.where(), func(t *testing.T) {
			t.Parallel()
			w := newWaitSceneWith(t, pool, func(c *Config) { c.Watching = true })
			swapDoc(t, w.st.store, func(d *policy.Document) {
				exportWait(pool)(d)
				d.Staleness = policy.StaleSpec{MaxAge: "1s", Action: "deny"}
			})
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Request-ID": "stale-while-waiting"}))
			// Nothing feeds the Store here: it was last heard at the swap.
			for time.Since(time.Unix(0, w.st.store.HeardAt())) < 1100*time.Millisecond {
				time.Sleep(50 * time.Millisecond)
			}
			first, second := w.finish(t)
			w.check(t, "etcd unheard past staleness.max_age", first, second, "stale-while-waiting", 503, audit.PolicyStale)
		})
	}
}

// closingSink is the test's audit sink with Accepting turned off at will:
// a sink that stops taking records (a full spool, the collector away).
type closingSink struct {
	*memSink
	closed atomic.Bool
}

func (c *closingSink) Accepting() bool { return !c.closed.Load() }

// Finding (review44): strict audit mode ("no record, no service")
// refused a request when the audit sink was not accepting on its arrival
// only: one admitted before the sink stopped, and waiting meanwhile, was
// sent with no sink to take its record. recheck.go asks the sink again
// at the end of the wait: 503 audit_unavailable.
func TestAuditUnavailableWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		w := &waitScene{pool: pool}
		t.Run(w.where(), func(t *testing.T) {
			var sink *closingSink
			w := newWaitSceneWith(t, pool, func(c *Config) {
				sink = &closingSink{memSink: c.Audit.(*memSink)}
				c.Audit = sink
			})
			swapDoc(t, w.st.store, func(d *policy.Document) {
				exportWait(pool)(d)
				d.Audit.Mode = "strict"
			})
			w.hold(t, w.export(t, key(adminKey)))
			w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Request-ID": "unrecorded-while-waiting"}))
			sink.closed.Store(true)
			first, second := w.finish(t)
			w.check(t, "the audit sink stopped accepting", first, second, "unrecorded-while-waiting", 503, audit.AuditUnavailable)
		})
	}
}

// Finding (review44): what a request's credential is worth by its age was
// judged on arrival only: a key that crossed lifecycle.max_key_age, or a
// credential that grew older than its class's max_token_age, while its
// request waited was sent. Both are judged again at the end of the wait
// (lapsed, tooOld): 401 key_expired_by_policy, 401 token_too_old. The
// key clock (Config.KeyClock, by which both are judged for API keys) is
// moved past the bound while the export waits.
func TestCredentialTooOldWhileWaitingRefused(t *testing.T) {
	for _, pool := range []bool{false, true} {
		for _, bound := range []string{"max_key_age", "max_token_age"} {
			w := &waitScene{pool: pool}
			t.Run(bound+" "+w.where(), func(t *testing.T) {
				var ahead atomic.Int64 // how far the key clock runs ahead of the wall clock
				w := newWaitSceneWith(t, pool, func(c *Config) {
					c.KeyClock = func() time.Time { return time.Now().Add(time.Duration(ahead.Load())) }
				})
				// The bound is an hour past the admin key's age now.
				born := time.Unix(0, w.st.store.Load().Key([]byte("acmeadm1")).Born)
				limit := (max(time.Since(born), 0) + time.Hour).Truncate(time.Hour)
				swapDoc(t, w.st.store, func(d *policy.Document) {
					exportWait(pool)(d)
					if bound == "max_key_age" {
						d.Lifecycle.MaxKeyAge = limit.String()
						d.Lifecycle.RotationWarning = "1h"
						return
					}
					for i := range d.Classes {
						if d.Classes[i].Name == "bulk" {
							d.Classes[i].MaxTokenAge = limit.String()
						}
					}
				})
				w.hold(t, w.export(t, key(adminKey)))
				w.wait(t, w.export(t, map[string]string{"X-API-Key": adminKey, "X-Request-ID": "too-old-while-waiting"}))
				ahead.Store(int64(2 * time.Hour))
				first, second := w.finish(t)
				want := audit.KeyExpiredByPolicy
				if bound == "max_token_age" {
					want = audit.TokenTooOld
				}
				w.check(t, "the key past "+bound, first, second, "too-old-while-waiting", 401, want)
			})
		}
	}
}
