package evidence

import (
	"archive/zip"
	"bytes"
	"cmp"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/portcullis/portcullis/alert"
	"github.com/portcullis/portcullis/collector"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/policy"
	"github.com/portcullis/portcullis/policy/etcdadmin"
)

// Config is what Pack reads and where it writes.
type Config struct {
	Period Period
	// DataDir is the collector's store.
	DataDir string
	// History is the policy history, oldest first (etcdadmin.PolicyHistory,
	// or HistoryFromFile); the newest entry pushed before the period ends
	// is the policy in force.
	History []etcdadmin.HistoryEntry
	// Out is the folder the pack's folder and zip are written in.
	Out string
	// SigningKey signs the manifest; nil leaves it unsigned.
	SigningKey ed25519.PrivateKey
	// VerifyKey is the collector's public key for the integrity proof;
	// nil means SigningKey's public half, and with neither the proof says
	// the store was not verified.
	VerifyKey ed25519.PublicKey
	// Anchor is what the integrity proof checks the store against besides
	// the store itself, as `portcullis audit verify` does with --etcd,
	// --published-head and --expect-head: a store behind it was rolled
	// back. Without one the proof says rollback was not checked.
	Anchor Anchor
	// Retention is the collector's --retention setting as the operator
	// states it; optional. The pack reports the setting the store
	// recorded in its signed head, and a Retention that disagrees with it
	// is reported in the file and in Result.Warnings.
	Retention string
	// Owners maps an API control area (Auth, Rate Limit, Logging, Abuse)
	// to the evidence owner.
	Owners map[string]string
	// Members returns the live sidecars' member records through time
	// (etcdadmin.Admin.MemberTrails) back to revision since, for the
	// propagation proof of each revocation; nil when the pack is built
	// without etcd, and the revocation file says so.
	Members func(since int64) ([]etcdadmin.MemberTrail, []string, error)
	// MemberHistory returns the history etcd keeps of the member records
	// (etcdadmin.Admin.MemberHistory): the records of sidecars gone
	// before the pack, whose silence while they were up the pack names
	// as it does a live sidecar's; nil when not read, and the Senders
	// section says so.
	MemberHistory func() (etcdadmin.MemberHistory, []string, error)
	// Keys returns the key records in etcd when the pack is made
	// (etcdadmin.Admin.KeyRecords): the token creation question names
	// each that no event of the trail made (keysNeverMade); nil when the
	// pack is built without etcd.
	Keys func() ([]etcdadmin.KeyInfo, []string, error)
	// Silence is how long a sidecar live during the period (its member
	// record, Members) may store no batch before the pack says its
	// records of that span may be missing; 0 means DefaultSilence.
	Silence time.Duration
	// MaxPerSender is how many sidecar instances, and pods, of one sender
	// the pack follows for lost batches and silence (ten times as many in
	// all); 0 means DefaultMaxPerSender of the period. Past it the pack
	// says INCOMPLETE and SILENCE NOT CHECKED, naming the senders.
	MaxPerSender int
	// Etcd and Prefix name the deployment in the runbook's commands. An
	// event binds the etcd user of its key only in that user's directory
	// directly under Prefix, <Prefix>/events-by/<user>/ (etcduser.go;
	// "": the part of each key before its first "/events-by/").
	Etcd, Prefix string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Anchor is a head kept outside the collector's data directory, which a
// person who can write that directory cannot move back (docs/audit.md,
// "What the trail guarantees"): the heads the collector published (etcd's
// <prefix>/audit/head, its --publish-head file) and a head hash the
// operator kept.
type Anchor struct {
	// Published is the newest of the published heads read, opened with
	// the collector's key (collector.OpenHead); nil when none was.
	Published *collector.PublishedHead
	// Others are the other published heads read: the store must hold
	// each of them too.
	Others []*collector.PublishedHead
	// ExpectHead is the hex chain hash of a head kept earlier (the hash
	// `audit verify` prints): the store must hold that entry.
	ExpectHead string
	// Checked names each published head read, for the proof: where it
	// was read and what it names.
	Checked []string
	// Missing names each anchor looked for and not found (etcd with no
	// head under the prefix), for the proof and the warnings.
	Missing []string
	// Absent names the counted anchors among Missing (etcd):
	// collector.VerifyOptions.AnchorAbsent.
	Absent []string
	// Uncounted names the counted anchors whose head carries no count:
	// collector.VerifyOptions.AnchorUncounted. The proof says what that
	// leaves unchecked, or fails it for a store that records counted
	// heads (the verify report's Unchecked and Problems).
	Uncounted []collector.UncountedHead
	// Problems are the heads found put back and the checks of them that
	// could not be made (collector.VerifyOptions.AnchorProblems): the
	// integrity proof fails with each.
	Problems []collector.Problem
	// Unchecked says what the heads read could not be checked for
	// (collector.VerifyOptions.AnchorUnchecked), for the proof, which
	// prints the verify report's (VerifyReport.Unchecked).
	Unchecked []string
}

// Result names what Pack wrote.
type Result struct {
	Dir   string        // the pack's folder
	Zip   string        // the zip of the folder
	Files []ManifestRow // one per evidence file, as in the manifest
	// Records, Events and Alerts count the period's activity; all zero
	// means the pack says the period had none.
	Records, Events, Alerts int
	// Warnings are what the pack found wrong and says in its files (a
	// --retention that disagrees with the store); the command prints them.
	Warnings []string
}

// Manifest file names.
const (
	ManifestCSV  = "manifest.csv"
	ManifestJSON = "manifest.json"
	ManifestSig  = "manifest.json.sig"
)

// builder holds the data every generator reads.
type builder struct {
	cfg        *Config
	doc        *policy.Document
	inForce    etcdadmin.HistoryEntry
	policyScan *historyScan // the policy text as etcd holds it (scanPolicyText)
	tally      *tally
	warnings   []string
	// verified is the store's verification, made in the pass that reads
	// the records and events (readStore).
	verified func() (*collector.VerifyReport, error)
	// leftOut counts the entries that failed their own checks (with a
	// verify key): none of their records or events is in the pack.
	leftOut int
	// leftOutAt are those entries, for what reads the store again
	// without the key (recountApprovals).
	leftOutAt map[entryPos]bool
	events    []collector.Event
	// allEvents are every event of the trail, of the period or not: the
	// collector's readings of etcd's revisions (etcdClock).
	allEvents []collector.Event
	// reviews are the review sign-offs and evidence approvals of the
	// period (reviewEvents): signed in it, or about it and signed after.
	reviews []collector.Event
	// approvalsBefore are the approval requests and decisions dated
	// before the period, for the approvals used or decided in it.
	approvalsBefore []collector.Event
	// keysBefore are the key creations, rotations and revocations dated
	// before the period, for the keys live when it began (keyAges).
	keysBefore []collector.Event
	alerts     []alert.Alert
	// partial is when the pack was made, for a period that had not ended
	// then (its records and events after it are not in the pack); zero
	// for a period over.
	partial time.Time
	// deleted are the store's segments gone (retention) that were
	// stored during the period: the records and events they held are
	// not in the pack.
	deleted []collector.DeletedSegment
	// gaps say, for each events.gap the follower stored whose span meets
	// the period, which approval uses may be missing.
	gaps []string
	// senders follows the batches holding the period's records, by
	// sidecar (senders.go).
	senders senders
	// members are the live sidecars' member records (memberTrails).
	members memberTrails
	// silent says which live sidecars stored no batch for longer than
	// Config.Silence, or none at all (checkSilence); silenceNote says
	// what was checked, for the Senders table.
	silent      []string
	silenceNote string
	headsNote   string // why the heads in etcd dated nothing (headTimes)
	// recordDated says that the records of two senders dated an etcd
	// revision (etcdClock): their word, checked only against the heads.
	recordDated bool
	// silenceCaveats are, for the Period Covered, why the silence of
	// some sidecars is not checked (checkSilence).
	silenceCaveats []string
	// seenRevisions are, by the etcd revision a record's sidecar had
	// applied (its policy_revision), the first senders and pods whose
	// batches named it and the earliest time the collector stored one of
	// each:
	// that revision was written by then, if a sender's word is true
	// (etcdClock).
	seenRevisions map[int64][]revSeen
	// began says that the store began after the period did (or holds
	// nothing, or cannot say when it began): the time before is not in
	// the pack; "" when the store covers the period's start.
	began string
	// fileScan is the credential scan of the pack's files, for the
	// CredentialScan file; nil outside a pack (a review worksheet).
	fileScan *packScan
}

// file is one generated evidence file.
type file struct {
	area, name, ext string
	gen             func(b *builder) ([]byte, error)
	version         string // the file's version, named instead of the period; "" for none
}

// files are the pack's evidence files, in manifest order.
var files = []file{
	{"APIAuth", "AuthenticationStandard", "md", (*builder).authStandard, ""},
	{"APIAuth", "ScopeRoleMatrix", "csv", (*builder).scopeMatrix, ""},
	{"APIAuth", "RevocationRecords", "csv", (*builder).revocations, ""},
	{"APIAuth", "TokenLifecycleLog", "csv", (*builder).tokenLifecycle, ""},
	{"APIRateLimits", "GatewayConfigExport", "json", (*builder).rateLimitExport, ""},
	{"APIRateLimits", "ThrottlingSample", "csv", (*builder).throttlingSample, ""},
	{"APILogging", "RetentionSettings", "md", (*builder).retention, ""},
	{"APILogging", "CredentialScan", "md", (*builder).credentialScan, ""},
	{"APIAbuse", "AlertToTicketSample", "md", (*builder).alertSample, ""},
	{"APIPrivileged", "PrivilegedAccess", "csv", (*builder).privilegedAccess, ""},
	{"APIPrivileged", "ApprovalSamples", "csv", (*builder).approvalSamples, ""},
	{"APIGovernance", "ReviewRecords", "csv", (*builder).reviewRecords, ""},
	{"APIGovernance", "ISO27017Checklist", "md", (*builder).checklist, ""},
	{"APIRunbook", "TokenCompromise", "md", (*builder).runbook, RunbookVersion},
}

// Pack writes the evidence pack for cfg.Period into cfg.Out: a folder
// "evidence-<Period>" and "evidence-<Period>.zip" of it.
func Pack(cfg Config) (*Result, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.VerifyKey == nil && cfg.SigningKey != nil {
		cfg.VerifyKey = cfg.SigningKey.Public().(ed25519.PublicKey)
	}
	b, err := load(&cfg)
	if err != nil {
		return nil, err
	}
	res := &Result{Dir: filepath.Join(cfg.Out, "evidence-"+cfg.Period.Name)}
	res.Zip = res.Dir + ".zip"
	res.Records, res.Events, res.Alerts = b.tally.records, len(b.events), len(b.alerts)
	for _, t := range b.incomplete() {
		b.warn("%s", t)
	}
	if w := b.authOffWarning(); w != "" { // etcduser.go
		b.warn("%s", w)
	}
	if !b.partial.IsZero() {
		b.warn("period %s ends %s, after the pack was made (%s): the pack covers it only to then, and says so (Period Covered %q)",
			cfg.Period.Name, rfc(cfg.Period.To), rfc(b.partial), b.periodCovered())
	}
	if err := os.MkdirAll(res.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("cannot create pack folder %q: %w", res.Dir, err)
	}
	// MkdirAll takes a link to a folder elsewhere for the folder: the pack
	// would be written where a link planted under its name points.
	if st, err := os.Lstat(res.Dir); err != nil || !st.IsDir() {
		return nil, fmt.Errorf("pack folder %q is not a folder (a pack is never written through a link)", res.Dir)
	}
	out, err := b.build(res)
	if err != nil {
		return nil, err
	}
	for _, f := range out {
		if err := writeNoFollow(filepath.Join(res.Dir, f.name), f.data); err != nil {
			return nil, err
		}
	}
	// The zip holds the files built and scanned here, never whatever else
	// the folder holds (an earlier run's note, a planted link): an outside
	// review found a key in such a file zipped under a scan that said PASS.
	if err := writeZip(res.Dir, out, res.Zip); err != nil {
		return nil, err
	}
	if foreign := foreignFiles(res.Dir, out); len(foreign) > 0 {
		b.warnings = append(b.warnings, fmt.Sprintf("the pack folder %q also holds %s, which are not part of the pack: not in the zip, the manifest or the credential scan", res.Dir, strings.Join(foreign, ", ")))
	}
	res.Warnings = b.warnings
	return res, nil
}

// periodCovered is the Period Covered of the manifest: the period's
// name, and for a period not over when the pack was made, the time it
// covers to.
//
// A pack the store cannot cover whole (incomplete: the store began after
// the period did, segments deleted, batches missing, etcd history lost)
// says so here too, "(incomplete: see <its integrity file>)": the signed
// manifest, uploaded to the evidence library alone and named in
// `evidence verify`'s OK line, claimed the whole period where the pack's
// files said INCOMPLETE. So does a store whose trail the checklist's
// answers doubt for another reason (trailDoubt: not verified, no
// collector key given, or its integrity proof failed) or that was checked
// against no head kept outside it (rollbackDoubt): the checklist said so
// in its answers, and the manifest claimed the period plain.
func (b *builder) periodCovered() string {
	var notes []string
	if !b.partial.IsZero() {
		notes = append(notes, "partial, to "+rfc(b.partial))
	}
	// Every doubt, not the first: a store both incomplete and checked
	// against no head kept outside it said only "incomplete" here.
	doubts := b.trailNotes()
	if r := b.rollbackNote(); r != "" {
		doubts = append(doubts, r)
	}
	// A sidecar that stopped sending is INCOMPLETE when its silence is
	// checked; when it cannot be (no member records, a pod no record
	// names, a sender token shared), the manifest says so too
	// (TestPeriodCoveredNamesUncheckedSilence).
	doubts = append(doubts, b.silenceCaveats...)
	if len(doubts) > 0 {
		notes = append(notes, strings.Join(doubts, "; ")+": see "+FileName("APILogging", "RetentionSettings", b.cfg.Period.Name, "md"))
	}
	if len(notes) == 0 {
		return b.cfg.Period.Name
	}
	return b.cfg.Period.Name + " (" + strings.Join(notes, "; ") + ")"
}

// partialNote says, in Markdown and HTML alike, that the period had not
// ended when the pack was made; "" for a period over.
func (b *builder) partialNote() string {
	if b.partial.IsZero() {
		return ""
	}
	return fmt.Sprintf("<strong>Partial period</strong>: this pack was made at %s, before the period ends at %s; records, events, alerts and review sign-offs after %s are not in it, and the answers and counts cover the period only to then.",
		rfc(b.partial), rfc(b.cfg.Period.To), rfc(b.partial))
}

// deletedIn returns the segments of the store in dir that are gone and
// were stored during p (a digest that cannot be read is counted in: its
// span is unknown).
func deletedIn(dir string, pub ed25519.PublicKey, p Period) ([]collector.DeletedSegment, error) {
	all, err := collector.DeletedSegments(dir, pub)
	if err != nil {
		return nil, fmt.Errorf("cannot list the deleted segments of store %q: %w", dir, err)
	}
	var out []collector.DeletedSegment
	for _, d := range all {
		if d.Problem != "" || d.Start.Before(p.To) && !d.End.Before(p.From) {
			out = append(out, d)
		}
	}
	return out, nil
}

// incomplete says what of the period the trail no longer holds, or may
// not hold: deleted segments and compacted etcd history; nil when
// nothing.
func (b *builder) incomplete() []string {
	var out []string
	if b.began != "" {
		out = append(out, b.began)
	}
	if t := b.deletedText(); t != "" {
		out = append(out, t)
	}
	if t := b.lostText(); t != "" {
		out = append(out, t)
	}
	if t := b.unfollowedText(); t != "" {
		out = append(out, t)
	}
	out = append(out, b.silent...)
	return append(out, b.gaps...)
}

// beganText says what of period p the store in dir holds nothing of
// because it began after p did: its first entry stored after p's start
// (the collector not yet running, or its store started anew), no entry at
// all, or a first entry whose time cannot be known; "" when the store
// began before p. Without it, a pack of a period before the collector
// existed said "No activity in this period", and one of a quarter whose
// first weeks it never saw counted the rest as the whole.
func beganText(dir string, pub ed25519.PublicKey, p Period) string {
	first, ok, err := collector.FirstStored(dir, pub)
	switch {
	case err != nil:
		return fmt.Sprintf("INCOMPLETE: when the store began cannot be known (%v): the records and lifecycle events of period %s stored before its oldest entry may be missing from this pack.", err, p.Name)
	case !ok:
		return fmt.Sprintf("INCOMPLETE: the store holds no entry at all: nothing in it shows that the collector was running during period %s, so no count, sample or answer of this pack is evidence that nothing happened in it.", p.Name)
	case !first.After(p.From):
		return ""
	case !first.Before(p.To):
		return fmt.Sprintf("INCOMPLETE: the store's first entry was stored at %s, after period %s ended (%s): the collector stored nothing while the period ran (it was not running, or this store was started anew), so this pack is not evidence of what happened in it; records dated in it were stored later.",
			rfc(first), p.Name, rfc(p.To))
	}
	return fmt.Sprintf("INCOMPLETE: the store's first entry was stored at %s, after period %s began (%s): the collector stored nothing before then (it was not running, or this store was started anew). The pack's counts, samples and answers cover the period from %s only.",
		rfc(first), p.Name, rfc(p.From), rfc(first))
}

// historyGaps returns, for each events.gap event of all (every lifecycle
// event, in storage order) whose span meets p, what may be missing: the
// follower found etcd's history from revision "from" compacted, so the
// approval uses of counters deleted between the last event it had stored
// before that revision and the gap's own time may be missing; and for
// each events.rewind stored during p, that etcd went back in revision, so
// changes written just before, which the follower had not read, may be.
func historyGaps(all []collector.Event, p Period) []string {
	var out []string
	for i := range all {
		g := &all[i]
		if g.Action == etcdadmin.ActionEventsRewind && !g.Time.Before(p.From) && g.Time.Before(p.To) {
			d := eventDetails(g.Details)
			out = append(out, fmt.Sprintf("INCOMPLETE: etcd went back in revision, from %s to %s (a restored backup or a replaced cluster; events.rewind stored %s): lifecycle changes written to etcd just before that, which the collector had not read yet, would be missing from this pack; the sidecars hold the revocations and suspensions etcd lost.",
				cmp.Or(d["was"], "?"), cmp.Or(d["now"], "?"), rfc(g.Time)))
			continue
		}
		if g.Action != etcdadmin.ActionEventsGap {
			continue
		}
		from, _ := strconv.ParseInt(eventDetails(g.Details)["from"], 10, 64)
		var since time.Time // the newest event stored before the gap's first revision
		for j := range all {
			if e := &all[j]; e.Revision > 0 && e.Revision < from && e.Time.After(since) {
				since = e.Time
			}
		}
		if since.Before(p.To) && !g.Time.Before(p.From) {
			out = append(out, fmt.Sprintf("INCOMPLETE: etcd's history from revision %d was compacted before the collector read it (events.gap at revision %d, stored %s): approval uses between %s and then of counters deleted meanwhile may be missing from this pack.",
				from, g.Revision, rfc(g.Time), cmp.Or(rfc(since), "the start of the trail")))
		}
	}
	return out
}

// deletedText says which records of the period the store no longer
// holds; "" when it holds them all.
func (b *builder) deletedText() string {
	if len(b.deleted) == 0 {
		return ""
	}
	var spans []string
	for _, d := range b.deleted {
		if d.Problem != "" {
			spans = append(spans, fmt.Sprintf("segment %d (when stored unknown: %s)", d.Segment, d.Problem))
			continue
		}
		spans = append(spans, fmt.Sprintf("segment %d, stored %s to %s", d.Segment, rfc(d.Start), rfc(d.End)))
	}
	return fmt.Sprintf("INCOMPLETE: %d segment(s) of the store stored during period %s were deleted by retention (or otherwise; the integrity proof accounts for each): %s. The records and lifecycle events they held are not in this pack: its counts, samples and answers cover the rest of the period only.",
		len(b.deleted), b.cfg.Period.Name, strings.Join(spans, "; "))
}

// writeNoFollow writes a file of the pack, refusing to write through a
// symbolic link planted under its name (os.WriteFile follows one, out of
// the folder) or into anything but a regular file: O_NONBLOCK keeps the
// open from waiting for the reader of a planted FIFO, which never comes.
func writeNoFollow(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0o644)
	if err != nil {
		return fmt.Errorf("cannot write %q (a pack file is never written through a link, nor into a pipe): %w", path, err)
	}
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		f.Close()
		return fmt.Errorf("cannot write %q: not a regular file", path)
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("cannot write %q: %w", path, err)
	}
	return nil
}

// WriteFile writes a file outside the pack (review start's worksheet) as
// the pack writes its own: never through a link planted under its name.
func WriteFile(path string, data []byte) error { return writeNoFollow(path, data) }

// foreignFiles lists, sorted, what dir holds besides the pack's files.
func foreignFiles(dir string, out []packFile) []string {
	names, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var foreign []string
	for _, n := range names {
		if !slices.ContainsFunc(out, func(f packFile) bool { return f.name == n.Name() }) {
			foreign = append(foreign, shown(n.Name()))
		}
	}
	return foreign
}

// FileName is the name of an evidence file: <Area>-<Name>-<Period>.<ext>.
func FileName(area, name, period, ext string) string {
	return area + "-" + name + "-" + period + "." + ext
}

// build makes every file of the pack in memory, in manifest order, then
// index.html and the manifests; res.Files gets the manifest's rows. The
// credential scan reads every other file as written; then it, the index
// and the manifests (which hold its digest) are scanned too, and made
// again until the scan names what they hold (once: a credential in the
// index or manifests comes from the data, not from the digests).
func (b *builder) build(res *Result) ([]packFile, error) {
	var out []packFile
	scanAt := -1
	for _, f := range files {
		name := FileName(f.area, f.name, cmp.Or(f.version, b.cfg.Period.Name), f.ext)
		if f.name == "CredentialScan" {
			scanAt = len(out)
			out = append(out, packFile{name: name})
			continue
		}
		data, err := f.gen(b)
		if err != nil {
			return nil, fmt.Errorf("cannot build %s-%s: %w", f.area, f.name, err)
		}
		out = append(out, packFile{name: name, data: data})
	}
	b.fileScan = scanFiles(slices.Delete(slices.Clone(out), scanAt, scanAt+1))
	b.fileScan.n = len(out) + 3 // and index.html, manifest.csv, manifest.json
	if b.cfg.SigningKey != nil {
		b.fileScan.n++ // manifest.json.sig
	}
	for round := 0; ; round++ {
		data, err := b.credentialScan()
		if err != nil {
			return nil, fmt.Errorf("cannot build APILogging-CredentialScan: %w", err)
		}
		out[scanAt].data = data
		res.Files = res.Files[:0]
		for i, f := range files {
			sum := sha256.Sum256(out[i].data)
			res.Files = append(res.Files, b.row(f, out[i].name, hex.EncodeToString(sum[:])))
		}
		index, row := b.index(res.Files)
		res.Files = append(res.Files, row)
		manifest, err := manifestFiles(res.Files, b.cfg.SigningKey)
		if err != nil {
			return nil, err
		}
		all := append(append(slices.Clone(out), index), manifest...)
		got := scanFiles(all)
		if got.equal(b.fileScan) {
			if t := b.tally; t.scanHits > 0 || t.eventHits > 0 {
				b.warn("the credential scan FAILED: %d records and %d lifecycle events of the period hold a credential (listed in %s)", t.scanHits, t.eventHits, out[scanAt].name)
			}
			if n := b.policyScan.hits; n > 0 {
				b.warn("the credential scan FAILED: %d texts of the policy's pushes and keys hold a credential as etcd holds them (listed in %s)", n, out[scanAt].name)
			}
			if len(got.hits) > 0 {
				b.warn("%s", got.warning())
			}
			return all, nil
		}
		if round == 2 {
			return nil, errors.New("BUG: the credential scan of the pack's files does not settle")
		}
		b.fileScan = got
	}
}

// load reads the policy in force, then the store in one pass (read.go):
// the events, the alerts rebuilt from them, the period's records counted
// into the tally (never kept) and, with a key, the store's verification.
func load(cfg *Config) (*builder, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	b := &builder{cfg: cfg}
	if now := cfg.Now().UTC(); now.Before(cfg.Period.To) {
		b.partial = now
	}
	var err error
	if b.inForce, b.doc, err = inForce(cfg.History, cfg.Period); err != nil {
		return nil, err
	}
	b.policyScan = scanPolicyText(cfg.History, b.inForce, b.doc, cfg.Period) // before they are cleared
	cfg.History = clearPushText(cfg.History)                                 // pushtext.go; cfg is the caller's copy
	b.inForce = clearPushText([]etcdadmin.HistoryEntry{b.inForce})[0]
	clearKeyText(b.doc)
	b.tally = newTally(b)
	b.senders.quiet = cmp.Or(cfg.Silence, DefaultSilence)
	b.senders.max = newBounds(cfg.MaxPerSender, cfg.Period)
	all, rep, err := b.readStore()
	if err != nil {
		return nil, err
	}
	b.verified = func() (*collector.VerifyReport, error) { return rep, nil }
	b.allEvents = all
	b.reviews = reviewEvents(all, cfg.Period)
	b.approvalsBefore = decisionsBefore(all, cfg.Period)
	b.keysBefore = keyEventsBefore(all, cfg.Period)
	b.gaps = historyGaps(all, cfg.Period)
	if b.deleted, err = deletedIn(cfg.DataDir, cfg.VerifyKey, cfg.Period); err != nil {
		return nil, err
	}
	b.began = beganText(cfg.DataDir, cfg.VerifyKey, cfg.Period)
	if err := b.checkSilence(); err != nil {
		return nil, err
	}
	if err := b.loadAlerts(all); err != nil {
		return nil, err
	}
	return b, nil
}

// loadAlerts keeps the alerts that were open in the period, rebuilt from
// every alert event of the trail (an alert opened before the period may
// close in it).
func (b *builder) loadAlerts(all []collector.Event) error {
	p := b.cfg.Period
	e, err := alert.New(alert.Config{})
	if err != nil {
		return err
	}
	e.Observe(nil, all)
	for _, a := range e.Alerts() {
		if a.Opened.Before(p.To) && !a.LastSeen.Before(p.From) {
			b.alerts = append(b.alerts, a)
		}
	}
	return nil
}

// inForce returns the newest history entry pushed before the period ends,
// parsed.
func inForce(h []etcdadmin.HistoryEntry, p Period) (etcdadmin.HistoryEntry, *policy.Document, error) {
	for i := len(h) - 1; i >= 0; i-- {
		if h[i].Time.Before(p.To) {
			doc, err := policy.Load(fmt.Sprintf("policy@%d", h[i].Revision), []byte(h[i].Document))
			if err != nil {
				return etcdadmin.HistoryEntry{}, nil, fmt.Errorf("cannot load the policy in force (revision %d): %w", h[i].Revision, err)
			}
			return h[i], doc, nil
		}
	}
	return etcdadmin.HistoryEntry{}, nil, errors.New("no policy was pushed before the period ends")
}

// HistoryFromFile makes a one-entry history of a policy file, for a pack
// without etcd: revision 0, the file's modification time and digest.
func HistoryFromFile(path string) ([]etcdadmin.HistoryEntry, error) {
	data, err := durable.ReadRegularMax(path, policy.MaxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("cannot read policy %q: %w", path, err)
	}
	// Checked here, where its name is known: the pack loads it again as
	// "policy@0", the name an etcd revision would have, and a user's
	// broken file was reported as "policy@0:1: ...".
	if _, err := policy.Load(path, data); err != nil {
		return nil, err
	}
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("cannot stat policy %q: %w", path, err)
	}
	sum := sha256.Sum256(data)
	return []etcdadmin.HistoryEntry{{
		Time: time.Time{}, Actor: "file:" + filepath.Base(path), Digest: hex.EncodeToString(sum[:]), Document: string(data),
		Reason: "policy file, modified " + st.ModTime().UTC().Format(time.RFC3339),
	}}, nil
}

// periodHistory returns the entries in force at some time of the period,
// each with the end of its span (the next push, or the period's end).
func (b *builder) periodHistory() []span { return historySpans(b.cfg.History, b.cfg.Period) }

// historySpans returns the entries of h in force at some time of p, each
// with the end of its span (periodHistory).
func historySpans(h []etcdadmin.HistoryEntry, p Period) []span {
	var out []span
	for i := range h {
		end := p.To
		if i+1 < len(h) && h[i+1].Time.Before(end) {
			end = h[i+1].Time
		}
		if !h[i].Time.Before(p.To) || !end.After(p.From) {
			continue
		}
		out = append(out, span{entry: h[i], until: end})
	}
	return out
}

type span struct {
	entry etcdadmin.HistoryEntry
	until time.Time
}

// writeZip writes the pack's files, in name order, to a zip at out, each
// under the folder's name.
func writeZip(dir string, files []packFile, out string) error {
	files = slices.Clone(files)
	slices.SortFunc(files, func(a, b packFile) int { return strings.Compare(a.name, b.name) })
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range files {
		w, err := zw.Create(filepath.Base(dir) + "/" + f.name)
		if err == nil {
			_, err = w.Write(f.data)
		}
		if err != nil {
			return fmt.Errorf("cannot add %q to the zip: %w", f.name, err)
		}
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("cannot finish zip %q: %w", out, err)
	}
	// Replaced in one rename: a verify of the zip meanwhile (Approve
	// rebuilds it) reads the old zip or the new one, never a part.
	if err := replaceFile(filepath.Dir(out), filepath.Base(out), buf.Bytes()); err != nil {
		return fmt.Errorf("cannot write zip %q: %w", out, err)
	}
	return nil
}

// loadDoc parses a history entry's document.
func loadDoc(e etcdadmin.HistoryEntry) (*policy.Document, error) {
	return policy.Load(fmt.Sprintf("policy@%d", e.Revision), []byte(e.Document))
}

type (
	policyDetection = policy.DetectionSpec
	policyClass     = policy.ClassSpec
)

// eventDetails decodes an event's details, a JSON object of strings; nil
// when there are none or they do not decode.
func eventDetails(raw []byte) map[string]string {
	var m map[string]string
	if len(raw) == 0 || json.Unmarshal(raw, &m) != nil {
		return nil
	}
	return m
}
