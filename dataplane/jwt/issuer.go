package jwt

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"
)

// maxJWKSBytes bounds a JWKS response body.
const maxJWKSBytes = 1 << 20

// errClosed is returned by fetches started after Close.
var errClosed = errors.New("jwt: verifier closed")

// issuerState is the runtime state of one configured issuer.
type issuerState struct {
	iss     *Issuer
	allowed uint8 // algorithm bit mask
	remote  bool  // keys come from iss.JWKSURL

	keys      atomic.Pointer[keySet]
	fetchedAt atomic.Int64              // unix nanoseconds of the last good fetch; 0 before it
	epoch     atomic.Uint64             // bumped when a refresh drops or changes a key
	first     atomic.Pointer[fetchCall] // the first fetch Launch started

	mu          sync.Mutex // guards the following fields
	inflight    *fetchCall
	lastRefetch time.Time // when a request last triggered a refetch
	refetched   bool      // lastRefetch is set
	failing     bool      // the last fetch failed (reported to FetchReport)
}

// fetchCall is one JWKS fetch that any number of callers may wait on.
type fetchCall struct {
	done chan struct{}
	err  error // set before done is closed
}

func newIssuerState(iss *Issuer) (*issuerState, error) {
	mask, _ := algMask(iss.Algorithms) // validated by prepare
	is := &issuerState{iss: iss, allowed: mask, remote: iss.JWKSURL != ""}
	if len(iss.JWKS) > 0 {
		ks, err := parseJWKS(iss.JWKS)
		if err != nil {
			return nil, fmt.Errorf("%w: issuer %q: inline jwks: %w", ErrConfig, iss.ID, err)
		}
		is.keys.Store(ks)
	}
	return is, nil
}

// fresh reports whether the issuer's keys may be used at now: inline keys
// always, fetched keys until MaxStale after the last good fetch.
func (is *issuerState) fresh(now time.Time, maxStale time.Duration) bool {
	if !is.remote {
		return true
	}
	at := is.fetchedAt.Load()
	return at != 0 && now.UnixNano()-at <= int64(maxStale)
}

// install swaps in a newly fetched key set.
func (is *issuerState) install(ks *keySet, at time.Time) {
	if old := is.keys.Swap(ks); ks.lostKeys(old) {
		is.epoch.Add(1)
	}
	is.fetchedAt.Store(at.UnixNano())
}

// fetchAsync starts a fetch of the issuer's JWKS, or returns the one in
// flight: concurrent callers share a single request to the provider.
func (v *Verifier) fetchAsync(is *issuerState) *fetchCall {
	is.mu.Lock()
	defer is.mu.Unlock()
	return v.fetchAsyncLocked(is)
}

func (v *Verifier) fetchAsyncLocked(is *issuerState) *fetchCall {
	if is.inflight != nil {
		return is.inflight
	}
	c := &fetchCall{done: make(chan struct{})}
	if !v.track() {
		c.err = errClosed
		close(c.done)
		return c
	}
	is.inflight = c
	go func() {
		defer v.wg.Done()
		err := v.fetch(is)
		is.mu.Lock()
		is.inflight = nil
		report := err != nil || is.failing
		is.failing = err != nil
		is.mu.Unlock()
		if report && v.cfg.FetchReport != nil && !errors.Is(err, errClosed) {
			v.cfg.FetchReport(is.iss.ID, err)
		}
		c.err = err
		close(c.done)
	}()
	return c
}

// refetch is the request-triggered fetch for an unknown kid or stale
// keys. It joins a fetch in flight or starts one at most once per
// MinRefetch (measured on the callers' clock), then waits up to
// RefetchWait. It reports whether a fetch completed in that time.
func (v *Verifier) refetch(is *issuerState, now time.Time) bool {
	c := v.claimRefetch(is, now)
	if c == nil {
		return false // rate-limited: fail fast
	}
	t := time.NewTimer(v.cfg.RefetchWait)
	defer t.Stop()
	select {
	case <-c.done:
		return c.err == nil
	case <-t.C:
		return false
	}
}

func (v *Verifier) claimRefetch(is *issuerState, now time.Time) *fetchCall {
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.inflight != nil {
		return is.inflight
	}
	if is.refetched && now.Sub(is.lastRefetch) < v.cfg.MinRefetch {
		// A now earlier than lastRefetch (callers' clocks race) counts as
		// inside the window, so out-of-order callers cannot add fetches.
		return nil
	}
	is.lastRefetch, is.refetched = now, true
	return v.fetchAsyncLocked(is)
}

// fetch downloads, parses and installs the issuer's JWKS. On any failure
// the held keys stay in place. A set that holds no usable key is
// installed, so the issuer's tokens are refused from then on, and
// reported.
func (v *Verifier) fetch(is *issuerState) error {
	v.stats.fetches.Add(1)
	ks, err := v.download(is.iss)
	if err != nil && v.ctx.Err() != nil {
		return errClosed // cancelled by Close: not the provider's failure
	}
	if err != nil && (ks == nil || !errors.Is(err, errNoUsableKey)) {
		v.stats.fetchErrors.Add(1)
		return fmt.Errorf("cannot fetch jwks for issuer %q: %w", is.iss.ID, err)
	}
	is.install(ks, time.Now())
	if err != nil {
		return fmt.Errorf("jwks for issuer %q: %w: its tokens are refused", is.iss.ID, err)
	}
	return nil
}

func (v *Verifier) download(iss *Issuer) (*keySet, error) {
	timeout := v.cfg.HTTPClient.Timeout
	if timeout <= 0 {
		timeout = defaultHTTPTimeout // a caller's client without timeout must not hang a fetch
	}
	ctx, cancel := context.WithTimeout(v.ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, iss.JWKSURL, nil)
	if err != nil {
		return nil, err
	}
	// Errors name the URL as logURL prints it: a jwks_url may carry a
	// password (user:pass@) or a token in its query, and an error ends up
	// in a log line.
	where := logURL(req.URL)
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := v.cfg.HTTPClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetching %q: %w", where, fetchFailure(err))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d from %q", resp.StatusCode, where)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("reading the jwks from %q: %w", where, fetchFailure(err))
	}
	if len(body) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks from %q exceeds %d bytes", where, maxJWKSBytes)
	}
	return parseJWKS(body)
}

// errUnreadable is a fetch failure the HTTP client reported in words of
// its own: they may quote what the provider sent.
var errUnreadable = errors.New("malformed or unreadable response")

// fetchFailure is err, an HTTP client's failure to fetch a JWKS, as a log
// line may say it: by kind (a timeout, a failed dial and why, a proxy
// that did not connect, a TLS certificate or alert, a redirect refused),
// with no byte the provider or a proxy sent. net/http's own errors quote
// them: a malformed header line whole (malformed MIME header line:
// "Set-Cookie: ..."), a status line, a Location it could not parse with
// its query, a proxy's refusal; such an error is errUnreadable. The
// url.Error around it quotes the URL's query.
func fetchFailure(err error) error {
	var re *redirectError
	var op *net.OpError
	var cv *tls.CertificateVerificationError
	var alert tls.AlertError
	var ne net.Error
	switch {
	case errors.As(err, &re):
		return re
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return errTimeout
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.As(err, &cv):
		return fmt.Errorf("tls: %w", cv.Err) // x509's words: names of the certificate, no response byte
	case errors.As(err, &alert):
		return alert
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("dial failed: %w", op.Err)
	case errors.As(err, &op) && op.Op == "proxyconnect": // its error may be the proxy's status text
		if errors.As(op.Err, &op) && op.Op == "dial" {
			return fmt.Errorf("%w: dial failed: %w", errProxyConnect, op.Err)
		}
		return errProxyConnect
	}
	return errUnreadable
}

// errTimeout is a fetch that ran past the client's timeout, and
// errProxyConnect one whose HTTPS proxy (HTTPS_PROXY) did not connect it.
var (
	errTimeout      = errors.New("timeout")
	errProxyConnect = errors.New("proxy connect failed")
)

// logURL is u as a log line may name it: the password and the query
// redacted as url.URL.Redacted writes a password ("xxxxx"; a provider
// behind basic auth, or one taking a token in its query:
// ?access_token=...), the fragment left out.
func logURL(u *url.URL) string {
	c := *u
	c.Fragment, c.RawFragment = "", ""
	if c.RawQuery != "" || c.ForceQuery {
		c.RawQuery = "xxxxx"
	}
	return c.Redacted()
}

// refreshLoop waits for the issuer's first fetch, then refetches its JWKS
// every RefreshInterval until ctx or the verifier ends. While the issuer
// has no keys (never fetched, or a set without a usable one) it retries sooner: after a second, doubling up to
// RefreshInterval, since its tokens are refused until a fetch succeeds.
func (v *Verifier) refreshLoop(ctx context.Context, is *issuerState, first *fetchCall) {
	defer v.wg.Done()
	select {
	case <-first.done:
	case <-ctx.Done():
		return
	case <-v.ctx.Done():
		return
	}
	retry := time.Second
	t := time.NewTimer(v.cfg.RefreshInterval)
	defer t.Stop()
	for {
		next := v.cfg.RefreshInterval
		if ks := is.keys.Load(); ks == nil || len(ks.all) == 0 {
			next, retry = min(retry, next), min(2*retry, next)
		}
		t.Reset(next)
		select {
		case <-ctx.Done():
			return
		case <-v.ctx.Done():
			return
		case <-t.C:
			<-v.fetchAsync(is).done
		}
	}
}
