package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/clientcrl"
	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/internal/reload"
	"github.com/portcullis/portcullis/limiter"
)

// intakeCRL is the collector's --client-crl: the CRLs of the --client-ca
// CAs, checked at every handshake (resumed ones too) and again on every
// request, so a sender certificate revoked by a CRL reloaded since its
// connection's handshake is refused on that kept-alive connection too.
// The file is read again every --client-crl-reload, and as soon as a
// handshake or request sees it changed (fresh: its reload.Stamp, looked
// at most once a second), so a CRL written after its CA was added is not
// waited for until the tick (TestCollectorClientCRLWrittenAfterItsCA);
// one that fails to load leaves the CRLs in force, and is logged once
// (load keeps the bytes it tried). So is --client-ca, which
// the intake re-reads when it changes (clientCAFile): the CRLs are read
// again at once then, before the new CAs are in force, so a CA added to it
// is not trusted without its CRL until the next reload
// (TestCollectorClientCRLReadWithNewCA, TestCollectorClientCRLOfRotatedCA).
type intakeCRL struct {
	file, caFile string
	log          *zerolog.Logger
	cur          atomic.Pointer[clientcrl.Set]

	mu           sync.Mutex          // guards the following fields: load runs on the reload tick and on a change of CAs
	cas          []*x509.Certificate // the CAs the CRLs in force were read against
	last, lastCA []byte              // the files' contents last loaded, or tried

	revoked, expired atomic.Uint64 // handshakes and requests refused
	reloadFailures   atomic.Uint64 // reloads of a changed file that failed
	logged           atomic.Int64  // unix ns of the last refusal logged

	// watch tells refuse, at most once a second, that the file changed
	// (fresh).
	watch *reload.Watch

	// expiredCRLs is how many CRLs in force were past their nextUpdate at
	// the last reload tick; only reload touches it.
	expiredCRLs int
}

// Errors of a sender certificate the CRLs refuse.
var (
	errSenderCertRevoked = errors.New("collector: sender certificate revoked by its CA's CRL")
	errSenderCRLExpired  = errors.New("collector: the CRL of the sender certificate's CA is past its nextUpdate")
)

// loadIntakeCRL reads file, the CRLs of the CAs of caFile, whose
// contents are caPEM; an error names the file.
func loadIntakeCRL(file, caFile string, caPEM []byte, log *zerolog.Logger) (*intakeCRL, error) {
	cas, err := clientcrl.ParseCAs(caPEM)
	if err != nil {
		return nil, fmt.Errorf("client CA %q: %w", caFile, err)
	}
	c := &intakeCRL{file: file, caFile: caFile, cas: cas, log: log, lastCA: caPEM, watch: reload.NewWatch(file)} // before the read
	if _, err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the file and, when it or the --client-ca file changed since
// the last load, puts its CRLs in force; it reports whether it did. A
// --client-ca file that holds no CA keeps the CAs read before (the
// intake logs it: clientCAFile).
func (c *intakeCRL) load() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, err := durable.ReadPEM(c.file)
	if err != nil {
		return false, fmt.Errorf("cannot read --client-crl %q: %w", c.file, err)
	}
	caPEM, err := durable.ReadPEM(c.caFile)
	if err != nil {
		caPEM = c.lastCA
	}
	if c.cur.Load() != nil && bytes.Equal(b, c.last) && bytes.Equal(caPEM, c.lastCA) {
		return false, nil
	}
	c.last, c.lastCA = b, caPEM
	cas := c.cas
	if now, err := clientcrl.ParseCAs(caPEM); err == nil {
		cas = now
	}
	set, err := clientcrl.Parse(c.file, b, c.caFile, cas)
	if err != nil {
		return false, err
	}
	if err := set.Follows(c.cur.Load(), cas); err != nil {
		return false, fmt.Errorf("client CRL file %q: %w", c.file, err)
	}
	c.cas = cas
	c.cur.Store(set)
	return true, nil
}

// reload reads the file every every until ctx ends.
func (c *intakeCRL) reload(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		c.reloadNow()
		c.checkExpired(time.Now())
	}
}

// reloadNow loads the file, logging what it did: on the reload tick, and
// when the --client-ca CAs change (clientCAFile.changed), before they are
// in force.
func (c *intakeCRL) reloadNow() {
	switch changed, err := c.load(); {
	case err != nil:
		c.reloadFailures.Add(1)
		c.log.Error().Err(err).Msg("client CRL not reloaded; the CRLs in force stay")
	case changed:
		c.log.Info().Str("crl", c.file).Msg("client CRL reloaded")
	}
}

// fresh loads the file again (reloadNow) when its reload.Stamp changed
// since it was last looked at, at most once a second (reload.Watch): on
// every handshake and request that presents a certificate (refuse), one
// atomic load unless a second has passed. A file it cannot look at is
// left to the reload tick, which logs it.
func (c *intakeCRL) fresh(now time.Time) {
	if c.watch.Changed(limiter.At(now)) {
		c.reloadNow()
	}
}

// checkExpired logs, as an error, the CRLs in force that are past their
// nextUpdate at now, when their number changed since the last check:
// every sender certificate of their CAs is refused until a fresh CRL is
// loaded. Before, the collector said nothing of it until a sender was
// refused, and then only in a warning throttled to one a second that
// did not name the file (TestCollectorClientCRLExpiredFailsClosed).
func (c *intakeCRL) checkExpired(now time.Time) {
	set := c.cur.Load()
	n := set.Expired(now)
	if n == c.expiredCRLs {
		return
	}
	c.expiredCRLs = n
	if n == 0 {
		c.log.Info().Str("crl", c.file).Msg("client CRLs current again; their CAs' sender certificates are taken")
		return
	}
	for _, crl := range set.CRLs() {
		if !crl.Next.IsZero() && !now.Before(crl.Next) {
			c.log.Error().Str("crl", c.file).Str("issuer", crl.Issuer).Time("next_update", crl.Next).
				Msg("client CRL expired (past its nextUpdate): every sender certificate of its CA is refused until a fresh CRL is loaded")
		}
	}
}

// refuse returns the error that refuses the verified chains of a sender
// certificate, or nil: a certificate a CRL lists, or one whose CA's CRL is
// past its nextUpdate (fail closed). It counts the refusal and logs it at
// most once a second.
func (c *intakeCRL) refuse(chains [][]*x509.Certificate) error {
	at := time.Now()
	c.fresh(at)
	st, issuer, cert := c.cur.Load().Check(chains, at)
	var err error
	switch st {
	case clientcrl.Good:
		return nil
	case clientcrl.Revoked:
		c.revoked.Add(1)
		err = errSenderCertRevoked
	default:
		c.expired.Add(1)
		err = errSenderCRLExpired
	}
	now, last := time.Now().UnixNano(), c.logged.Load()
	if now-last >= int64(time.Second) && c.logged.CompareAndSwap(last, now) {
		c.log.Warn().Err(err).Str("issuer", issuer).Str("serial", cert.SerialNumber.String()).Msg("sender certificate refused")
	}
	return err
}

// writeMetrics writes the refusals, the failed reloads, the CRLs expired
// and each CRL's time to its nextUpdate (clientcrl's series, which the
// sidecar serves for its own --client-crl, so
// PortcullisClientCRLExpiringSoon covers both).
func (c *intakeCRL) writeMetrics(w io.Writer) {
	b := []byte("# HELP portcullis_collector_sender_cert_refusals_total Sender certificates refused by --client-crl, at the handshake or on a request, by reason.\n# TYPE portcullis_collector_sender_cert_refusals_total counter\n")
	b = append(strconv.AppendUint(append(b, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} `...), c.revoked.Load(), 10), '\n')
	b = append(strconv.AppendUint(append(b, `portcullis_collector_sender_cert_refusals_total{reason="crl_expired"} `...), c.expired.Load(), 10), '\n')
	b = append(b, "# HELP portcullis_collector_client_crl_reload_failures_total Reloads of a changed --client-crl that failed (a file cut short or damaged, a CRL no client CA signed; logged): the CRLs in force stay.\n# TYPE portcullis_collector_client_crl_reload_failures_total counter\n"...)
	b = append(strconv.AppendUint(append(b, "portcullis_collector_client_crl_reload_failures_total "...), c.reloadFailures.Load(), 10), '\n')
	b = append(b, "# HELP portcullis_tls_client_crls_expired Client CRLs in force past their nextUpdate: every sender certificate of their CAs is refused until a fresh CRL loads.\n# TYPE portcullis_tls_client_crls_expired gauge\n"...)
	now := time.Now()
	cur := c.cur.Load()
	b = append(strconv.AppendInt(append(b, "portcullis_tls_client_crls_expired "...), int64(cur.Expired(now)), 10), '\n')
	b = append(b, "# HELP "+clientcrl.NextUpdateMetric+" "+clientcrl.NextUpdateHelp+"\n# TYPE "+clientcrl.NextUpdateMetric+" gauge\n"...)
	b = cur.AppendNextUpdate(b, now)
	w.Write(b)
}
