package collector

import (
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The probes' answers: /healthz (liveness) and /readyz (readiness).

// writeHealth answers /healthz, the collector's liveness: {"status":"ok"},
// or "degraded" with whether the store takes appends ("storing": false
// while they fail, a full disk or an unwritable store) and, when detail
// is set, why and the anchors signed heads are withheld from. It stays
// 200: a liveness probe that restarted the collector would find the disk
// as full, or the collector refusing to start on that anchor
// (CheckAnchors); /readyz is what fails (writeReady). The intake
// listener, which every sender network reaches, leaves the anchors and
// the store's error out: they name the anchor's file path or etcd key
// and the heads there, and the store's paths
// (TestHealthOnIntakeNamesNoAnchorToAnonymous).
func (c *Collector) writeHealth(w http.ResponseWriter, detail bool) {
	w.Header().Set("Content-Type", "application/json")
	probs, sh := c.store.AnchorProblems(), c.store.Health()
	if len(probs) == 0 && !sh.Failing() && !sh.HeadFailing() {
		io.WriteString(w, `{"status":"ok"}`)
		return
	}
	if !detail {
		io.WriteString(w, `{"status":"degraded","storing":`+strconv.FormatBool(!sh.Failing())+`,"heads_published":`+strconv.FormatBool(!sh.HeadFailing())+`}`)
		return
	}
	var since, headSince *time.Time
	if sh.Failing() {
		since = &sh.FailingSince
	}
	if sh.HeadFailing() {
		headSince = &sh.HeadFailingSince
	}
	json.NewEncoder(w).Encode(struct {
		Status         string          `json:"status"`
		Storing        bool            `json:"storing"`
		HeadsPublished bool            `json:"heads_published"`
		FailingSince   *time.Time      `json:"store_failing_since,omitempty"`
		StoreError     string          `json:"store_error,omitempty"`
		HeadSince      *time.Time      `json:"head_failing_since,omitempty"`
		HeadError      string          `json:"head_error,omitempty"`
		Anchors        []AnchorProblem `json:"anchors_withheld,omitempty"`
	}{"degraded", !sh.Failing(), !sh.HeadFailing(), since, sh.LastError, headSince, sh.HeadError, probs})
}

// writeReady answers /readyz as the sidecar's does: "ready" (200) or "not
// ready" (503), then one line per check. The collector is not ready while
// its store refuses appends (every batch would get 503 store_unavailable;
// senders spool them), and the store is probed then (Store.Probe), so a
// collector that no batch reaches while it is out of its Service's
// endpoints becomes ready again once the disk has room. Anchors signed
// heads are withheld from, and a head that could not be signed or
// published, leave it ready (it stores every batch) and are named.
// detail as for writeHealth. Before, the collector had /healthz
// alone, which answered 200 on a full disk (TestCollectorReadyzOnFullDisk).
func (c *Collector) writeReady(w http.ResponseWriter, detail bool) {
	if c.store.Health().Failing() {
		c.store.Probe()
	}
	sh, probs := c.store.Health(), c.store.AnchorProblems()
	store := "store: ok, storing"
	if sh.Failing() {
		store = "store: FAIL, appends failing since " + sh.FailingSince.UTC().Format(time.RFC3339) + " (batches answered 503 store_unavailable and spooled by their senders)"
		if detail {
			store += ": " + sh.LastError
		}
	}
	anchors := "anchors: ok, signed heads published to every anchor"
	if len(probs) > 0 {
		anchors = "anchors: ok, signed heads withheld from " + strconv.Itoa(len(probs)) + " anchors (a rollback of the store is no longer caught there)"
		for _, p := range probs {
			if detail { // the intake listener names no anchor (writeHealth)
				anchors += "; " + p.Where + ": " + p.Problem
			}
		}
	}
	if sh.HeadFailing() {
		// Ready still: the batches are stored, and out of its Service's
		// endpoints the collector would publish no better.
		anchors = "anchors: FAIL, signing or publishing the head failing since " + sh.HeadFailingSince.UTC().Format(time.RFC3339) +
			" (the anchors hold an older head: a cut of the batches stored since passes verify against them)"
		if detail { // the error names the anchor's etcd key or file (writeHealth)
			anchors += ": " + sh.HeadError
		}
		if len(probs) > 0 {
			anchors += "; signed heads withheld from " + strconv.Itoa(len(probs)) + " anchors"
		}
		for _, p := range probs {
			if detail {
				anchors += "; " + p.Where + ": " + p.Problem
			}
		}
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if sh.Failing() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "not ready\n"+store+"\n"+anchors+"\n")
		return
	}
	io.WriteString(w, "ready\n"+store+"\n"+anchors+"\n")
}
