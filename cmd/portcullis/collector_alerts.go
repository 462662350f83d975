package main

import (
	"context"
	"crypto/ed25519"
	"crypto/subtle"
	"errors"
	"fmt"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/policy"
)

// detection is the collector's hook to the alert engine (issue 14): the
// store hands it every entry it writes through StoreConfig.Detection, and
// the alert events the engine derives are stored in the same entry. Its
// state is restored from its snapshot and the trail after it before the
// collector takes traffic.
type detection struct {
	engine *alert.Engine
	store  *collector.Store
	reload func(time.Time) // re-reads the policy in etcd after a policy.push; nil with --policy
	// key signs the engine's state snapshot (the collector's signing
	// key); nil keeps no snapshot and start replays the whole trail.
	key ed25519.PrivateKey
	// previous is --previous-signing-key: the store's key until a
	// rotation, which signed the snapshot of the start before it.
	previous ed25519.PrivateKey
	// etcdUser is the collector's etcd user (its certificate's common
	// name, or --etcd-user), "" without one: containment writes its
	// events under events-by/<etcdUser>/, which the Job's
	// portcullis-collector role may write, never events/.
	etcdUser string

	// box is the ticket outbox, nil without ticket sinks; set by start
	// before the collector serves /metrics.
	box *alert.Outbox
	// unverified counts the trail entries that failed their checks at
	// start and were not replayed into the detection state.
	unverified atomic.Int64

	mu       sync.Mutex // guards the following field
	pushedAt time.Time  // a stored policy.push not yet reloaded
}

// writeMetrics writes the ticket outbox's series: the deliveries that
// could not be written (a full disk), the tries that failed, the
// closures refused for good, and whether
// an alert's delivery waits to be written again (the outbox retries with
// backoff).
func (d *detection) writeMetrics(w io.Writer) {
	var st alert.OutboxStats
	if d.box != nil {
		st = d.box.Stats()
	}
	unqueued := 0
	if st.Unqueued {
		unqueued = 1
	}
	fmt.Fprintf(w, "# HELP portcullis_collector_ticket_queue_failures_total Ticket deliveries that could not be written to the outbox (a full disk), retries included; the outbox writes them again with backoff.\n# TYPE portcullis_collector_ticket_queue_failures_total counter\nportcullis_collector_ticket_queue_failures_total %d\n", st.QueueFailures)
	fmt.Fprintf(w, "# HELP portcullis_collector_ticket_delivery_failures_total Tries of a ticket delivery or closure that failed (the sink down, a refusal, an answer naming a blank ticket key); each is retried with backoff.\n# TYPE portcullis_collector_ticket_delivery_failures_total counter\nportcullis_collector_ticket_delivery_failures_total %d\n", st.DeliveryFailures)
	fmt.Fprintf(w, "# HELP portcullis_collector_ticket_close_refused_total Ticket closures a sink refused for good (a 4xx other than 408 and 429, or a ticket key that cannot be sent); each is recorded as alert.ticket_close_refused and not retried.\n# TYPE portcullis_collector_ticket_close_refused_total counter\nportcullis_collector_ticket_close_refused_total %d\n", st.CloseRefused)
	fmt.Fprintf(w, "# HELP portcullis_collector_ticket_unqueued 1 while an alert's ticket delivery (its ticket, closure or a folded alert's update) waits to be written to the outbox again.\n# TYPE portcullis_collector_ticket_unqueued gauge\nportcullis_collector_ticket_unqueued %d\n", unqueued)
	var refused uint64
	if d.engine != nil {
		refused = d.engine.LooseRefused()
	}
	fmt.Fprintf(w, "# HELP portcullis_collector_detection_loose_refused_total Records left uncounted by a detection rule grouped by source because the groups of sources hold the engine's budget (64 MiB; a sender naming made-up addresses); the policy's clients and tenants are always counted.\n# TYPE portcullis_collector_detection_loose_refused_total counter\nportcullis_collector_detection_loose_refused_total %d\n", refused)
	fmt.Fprintf(w, "# HELP portcullis_collector_detection_unverified_entries Trail entries that failed their checks (hash, link, seq, signature) when detection replayed the trail at start, and were not replayed; audit verify names them.\n# TYPE portcullis_collector_detection_unverified_entries gauge\nportcullis_collector_detection_unverified_entries %d\n", d.unverified.Load())
}

// hooks returns the store's detection hooks; they do nothing until the
// engine is started.
func (d *detection) hooks() collector.Detection {
	return collector.Detection{Detect: d.detect, Commit: d.commit, After: d.after}
}

func (d *detection) detect(seq uint64, recs []collector.StoredRecord, evs []collector.Event) []collector.Event {
	if d.engine == nil {
		return nil
	}
	for i := range evs {
		if evs[i].Action == etcdadmin.ActionPolicyPush && d.reload != nil {
			d.mu.Lock()
			d.pushedAt = evs[i].Time
			d.mu.Unlock()
		}
	}
	return d.engine.Detect(seq, recs, evs)
}

func (d *detection) commit(seq uint64, hash [32]byte, stored bool) {
	if d.engine != nil {
		d.engine.Commit(seq, hash, stored)
	}
}

// after runs outside the store's lock: tickets and containment of what
// was stored, and the rules reloaded after a stored policy.push.
func (d *detection) after() {
	if d.engine == nil {
		return
	}
	d.engine.After()
	d.mu.Lock()
	at := d.pushedAt
	d.pushedAt = time.Time{}
	d.mu.Unlock()
	if !at.IsZero() {
		d.reload(at)
	}
}

// start loads the detection rules (--policy, else the policy in etcd when
// --etcd is given), replays the trail in dir and hooks the engine up.
func (d *detection) start(ctx context.Context, file string, admin *etcdadmin.Admin, where, dir string, store *collector.Store, log *zerolog.Logger) error {
	var doc *policy.Document
	var err error
	lister := "portcullis policy validate " + file
	if file == "" && admin != nil {
		doc, err = waitDetectionPolicy(ctx, admin, where, log)
		lister = "portcullis policy get | portcullis policy validate -"
	} else {
		doc, err = detectionPolicy(ctx, file, admin)
	}
	if err = boundRefusal(err, lister); err != nil || doc == nil {
		return err
	}
	logNotes(doc, log)
	sinks, err := alert.NewSinks(doc.Tickets)
	if err != nil {
		log.Error().Err(err).Msg("ticket sinks: set the secret and restart; alerts are queued for them then")
	}
	var box *alert.Outbox
	var cont *container
	var trailKey ed25519.PublicKey
	if d.key != nil {
		trailKey = d.key.Public().(ed25519.PublicKey)
	}
	snapshot := filepath.Join(dir, "detection", "snapshot.json")
	if rotated, _ := store.KeyRotated(); d.key != nil && d.previous != nil && rotated {
		// The snapshot of the start before a key rotation is the old
		// key's: signed again by the new one, it spares this start and the
		// next the replay of the whole trail. Only the start that rotates
		// does so: a later start still given --previous-signing-key
		// signed again any snapshot of the old key put back in the
		// directory, which with the old key leaked is any state
		// (read108).
		resigned, err := alert.ResignSnapshot(snapshot, d.previous, d.key, store.RotatedFrom(d.previous.Public().(ed25519.PublicKey)))
		if err != nil {
			log.Warn().Err(err).Msg("detection snapshot of the previous signing key not signed again; the trail is replayed")
		} else if resigned {
			log.Info().Msg("detection snapshot of the previous signing key signed again with the signing key")
		}
	}
	eng, err := alert.New(alert.Config{Policy: doc, Append: store.AppendEvents, Snapshot: snapshot, SnapshotKey: d.key, TrailKey: trailKey,
		OnOpen: func(a alert.Alert) {
			r := a.Redacted() // a rule's name and a group's value may be text from outside
			log.Warn().Str("alert", r.ID).Str("rule", r.Rule).Str(r.Group, r.Key).Msg("alert opened")
			if box != nil {
				if err := box.Enqueue(a); err != nil {
					log.Error().Err(err).Str("alert", a.ID).Msg("cannot queue the alert for its ticket sinks; the outbox writes it again with backoff")
				}
			}
			if cont != nil {
				cont.contain(ctx, a)
			}
		},
		OnClose: func(a alert.Alert) {
			if box != nil {
				if err := box.EnqueueClose(a); err != nil {
					log.Error().Err(err).Str("alert", a.ID).Msg("cannot queue the closure for its tickets; the outbox writes it again with backoff")
				}
			}
		},
		OnError: func(err error) { log.Error().Err(err).Msg("detection") }})
	if err != nil {
		return err
	}
	st, err := eng.Restore(dir)
	if err != nil {
		return err
	}
	if st.Ignored != "" {
		log.Warn().Str("reason", st.Ignored).Msg("detection snapshot ignored; state rebuilt from the whole trail")
	}
	d.unverified.Store(int64(st.Unverified))
	if st.Unverified > 0 {
		log.Error().Int("entries", st.Unverified).Msg("trail entries failed their checks and were not replayed into the detection state; run audit verify")
	}
	log.Info().Uint64("snapshot_seq", st.Snapshot).Int("entries_replayed", st.Entries).Msg("detection state restored")
	if d.key != nil {
		go eng.RunSnapshots(ctx, snapshotEvery, func(err error) { log.Warn().Err(err).Msg("detection snapshot not written") })
	}
	if len(sinks) > 0 {
		if box, err = ticketOutbox(doc, sinks, eng, filepath.Join(dir, "tickets"), d.key, log); err != nil {
			return err
		}
		d.box = box
	}
	if admin != nil {
		cont = newContainer(etcdActions(admin, "portcullis-collector", d.etcdUser), eng, log)
	}
	d.engine, d.store = eng, store
	if file == "" && admin != nil {
		d.reload = func(at time.Time) { reloadRules(ctx, admin, eng, at, log) }
	}
	// Started once all of the above is set: the first Tick may open an
	// alert at once (a warning that came due while the collector was
	// stopped), whose OnOpen reads box and cont, and the store's hooks d.
	go tickRotation(ctx, eng) // collector_rotation.go
	if box != nil {
		go box.Run(ctx)
	}
	if cont != nil {
		for _, a := range eng.Uncontained() {
			cont.contain(ctx, a)
		}
	}
	log.Info().Int("rules", len(doc.Detection)).Int("ticket_sinks", len(sinks)).Msg("detection rules loaded")
	return nil
}

// snapshotEvery is how often the collector writes the detection snapshot:
// a restart replays at most this much of the trail.
const snapshotEvery = 5 * time.Minute

// finalSnapshot writes the detection snapshot once the collector stores
// nothing more, so the next start replays nothing.
func (d *detection) finalSnapshot(log *zerolog.Logger) {
	if d.engine == nil || d.key == nil {
		return
	}
	if err := d.engine.WriteSnapshot(time.Now()); err != nil {
		log.Warn().Err(err).Msg("detection snapshot not written at shutdown; the next start replays the trail")
	}
}

// ticketOutbox returns the outbox of the policy's ticket sinks, with the
// alerts a crash left unqueued queued again; key, the collector's signing
// key, signs its queued files.
func ticketOutbox(doc *policy.Document, sinks []*alert.Sink, eng *alert.Engine, dir string, key ed25519.PrivateKey, log *zerolog.Logger) (*alert.Outbox, error) {
	ruleSink := map[string]string{}
	for _, r := range doc.Detection {
		ruleSink[r.Name] = r.Ticket
	}
	box, err := alert.NewOutbox(alert.OutboxConfig{Dir: dir, Sinks: sinks, Engine: eng, RuleSink: ruleSink, Key: key,
		OnError: func(err error) {
			if errors.Is(err, alert.ErrCloseRefused) {
				log.Error().Err(err).Msg("ticket closure refused by the sink; not retried (alerts show lists it)")
				return
			}
			log.Warn().Err(err).Msg("ticket delivery failed; retrying")
		}})
	if err != nil {
		return nil, err
	}
	return box, box.Reconcile()
}

// detectionPolicy returns the policy whose detection rules the collector
// runs, or nil when it has none to read.
func detectionPolicy(ctx context.Context, file string, admin *etcdadmin.Admin) (*policy.Document, error) {
	if file != "" {
		return loadPolicyFile(file)
	}
	if admin == nil {
		return nil, nil
	}
	raw, _, err := admin.GetPolicy(ctx)
	return etcdDetectionPolicy(raw, err)
}

// etcdDetectionPolicy loads the policy document read from etcd: none when
// etcd holds none, an error wrapping errEtcdRead when the read failed.
func etcdDetectionPolicy(raw []byte, err error) (*policy.Document, error) {
	if errors.Is(err, etcdadmin.ErrNotFound) || err == nil && len(raw) == 0 {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errEtcdRead, err)
	}
	return policy.Load("etcd policy", raw)
}

// errEtcdRead is the error of a policy read etcd did not answer.
var errEtcdRead = errors.New("cannot read the detection rules from etcd")

// etcdAttempt bounds one read of the policy in etcd by the collector.
const etcdAttempt = 5 * time.Second

// waitDetectionPolicy reads the policy in etcd for the detection rules,
// each attempt bounded by etcdAttempt, until etcd answers or ctx ends.
// The collector takes no batches meanwhile (the senders spool them), so
// the wait is logged at once at warn naming the endpoints, again each
// minute, and its end at info; it used to be silent.
func waitDetectionPolicy(ctx context.Context, admin *etcdadmin.Admin, where string, log *zerolog.Logger) (*policy.Document, error) {
	var since, logged time.Time
	for {
		actx, cancel := context.WithTimeout(ctx, etcdAttempt)
		raw, _, err := admin.GetPolicy(actx)
		cancel()
		doc, err := etcdDetectionPolicy(raw, err)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("stopped while waiting for etcd %s: %w", where, ctx.Err())
		case !errors.Is(err, errEtcdRead):
			if !since.IsZero() {
				log.Info().Str("etcd", where).Dur("waited", time.Since(since)).Msg("etcd answered; starting the collector")
			}
			return doc, err
		}
		now := time.Now()
		if since.IsZero() {
			since = now
		}
		if now.Sub(logged) >= time.Minute {
			logged = now
			log.Warn().Err(err).Str("etcd", where).Dur("waiting", now.Sub(since)).
				Msg("waiting for etcd to read the detection rules: no audit batches are taken until it answers (senders spool them); --policy FILE runs the rules without etcd")
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// reloadRules gives the engine the policy now in etcd: new rules, and a
// client newly holding a privileged scope fires privileged_grant. A
// policy etcd refuses to give, or that does not load, keeps the rules.
func reloadRules(ctx context.Context, admin *etcdadmin.Admin, eng *alert.Engine, at time.Time, log *zerolog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, 2*etcdAttempt) // it runs after a store append: never for ever
	defer cancel()
	doc, err := detectionPolicy(ctx, "", admin)
	if err == nil && doc != nil {
		if err = eng.SetPolicy(doc, at); err == nil {
			logNotes(doc, log)
		}
	}
	if err != nil {
		log.Error().Err(err).Msg("detection rules not reloaded after a policy push; the previous rules stay")
	}
}

// detectionNotes returns the notes of doc's detection rules
// (policy.DetectionSpec.Note).
func detectionNotes(doc *policy.Document) []string {
	var out []string
	if doc == nil {
		return nil
	}
	for i := range doc.Detection {
		if n := doc.Detection[i].Note(); n != "" {
			out = append(out, n)
		}
	}
	return out
}

// logNotes logs each note of doc's detection rules as a warn line.
func logNotes(doc *policy.Document, log *zerolog.Logger) {
	for _, n := range detectionNotes(doc) {
		log.Warn().Msg(n)
	}
}

// routes serves POST /v1/alertmanager, when detection runs, with the
// tokens of --alertmanager-token-file (alertmanagers), and everything else
// with next. A sender's token is not taken there: one stolen from a
// sidecar opened alerts and tickets naming any tenant, recorded as the
// collector's detections (TestAlertmanagerRefusesSenderTokens). Without
// alertmanagers the route is not served. An Alertmanager token shorter
// than collector.MinTokenBytes, or one a sender holds too, is an error.
func (d *detection) routes(next http.Handler, senders, alertmanagers []collector.SenderToken) (http.Handler, error) {
	if err := checkAlertmanagerTokens(senders, alertmanagers); err != nil {
		return nil, err
	}
	if d.engine == nil || len(alertmanagers) == 0 {
		return next, nil
	}
	var tokens []string
	for _, t := range alertmanagers {
		tokens = append(tokens, t.Token)
	}
	am := alert.AlertmanagerHandler(d.engine, tokens)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/alertmanager" {
			// The collector's connection rules do not see this route:
			// every answer closes the connection, or a client without
			// a token kept it open for as long as it liked.
			w.Header().Set("Connection", "close")
			am.ServeHTTP(w, r)
			collector.BoundDrain(w) // a body declared and not sent held it a minute
			return
		}
		next.ServeHTTP(w, r)
	}), nil
}

// checkAlertmanagerTokens refuses an Alertmanager token shorter than
// collector.MinTokenBytes or equal to a sender's, naming it, never showing
// it.
func checkAlertmanagerTokens(senders, alertmanagers []collector.SenderToken) error {
	for _, a := range alertmanagers {
		if len(a.Token) < collector.MinTokenBytes {
			return fmt.Errorf("--alertmanager-token-file: token %q is %d bytes, shorter than %d; make one with `openssl rand -hex 32`", a.Name, len(a.Token), collector.MinTokenBytes)
		}
		for _, s := range senders {
			if subtle.ConstantTimeCompare([]byte(a.Token), []byte(s.Token)) == 1 {
				return fmt.Errorf("--alertmanager-token-file: token %q is sender %q's (--token-file); give Alertmanager a token of its own", a.Name, s.Name)
			}
		}
	}
	return nil
}
