package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/clientcrl"
	"github.com/portcullis/portcullis/internal/durable"
)

// intakeCRL is the collector's --client-crl: the CRLs of the --client-ca
// CAs, checked at every handshake (resumed ones too) and again on every
// request, so a sender certificate revoked by a CRL reloaded since its
// connection's handshake is refused on that kept-alive connection too.
// The file is read again every --client-crl-reload; one that fails to
// load leaves the CRLs in force, and is logged.
type intakeCRL struct {
	file, caFile string
	cas          []*x509.Certificate
	log          *zerolog.Logger
	cur          atomic.Pointer[clientcrl.Set]
	last         []byte // the file's contents last loaded, or tried

	revoked, expired atomic.Uint64 // handshakes and requests refused
	logged           atomic.Int64  // unix ns of the last refusal logged
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
	c := &intakeCRL{file: file, caFile: caFile, cas: cas, log: log}
	if _, err := c.load(); err != nil {
		return nil, err
	}
	return c, nil
}

// load reads the file and, when it changed since the last load, puts its
// CRLs in force; it reports whether it did.
func (c *intakeCRL) load() (bool, error) {
	b, err := durable.ReadPEM(c.file)
	if err != nil {
		return false, fmt.Errorf("cannot read --client-crl %q: %w", c.file, err)
	}
	if c.cur.Load() != nil && bytes.Equal(b, c.last) {
		return false, nil
	}
	c.last = b
	set, err := clientcrl.Parse(c.file, b, c.caFile, c.cas)
	if err != nil {
		return false, err
	}
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
		switch changed, err := c.load(); {
		case err != nil:
			c.log.Error().Err(err).Msg("client CRL not reloaded; the CRLs in force stay")
		case changed:
			c.log.Info().Str("crl", c.file).Msg("client CRL reloaded")
		}
	}
}

// refuse returns the error that refuses the verified chains of a sender
// certificate, or nil: a certificate a CRL lists, or one whose CA's CRL is
// past its nextUpdate (fail closed). It counts the refusal and logs it at
// most once a second.
func (c *intakeCRL) refuse(chains [][]*x509.Certificate) error {
	st, issuer, cert := c.cur.Load().Check(chains, time.Now())
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

// writeMetrics writes the refusals and each CRL's time to its nextUpdate
// (clientcrl's series, which the sidecar serves for its own --client-crl,
// so PortcullisClientCRLExpiringSoon covers both).
func (c *intakeCRL) writeMetrics(w io.Writer) {
	b := []byte("# HELP portcullis_collector_sender_cert_refusals_total Sender certificates refused by --client-crl, at the handshake or on a request, by reason.\n# TYPE portcullis_collector_sender_cert_refusals_total counter\n")
	b = append(strconv.AppendUint(append(b, `portcullis_collector_sender_cert_refusals_total{reason="revoked"} `...), c.revoked.Load(), 10), '\n')
	b = append(strconv.AppendUint(append(b, `portcullis_collector_sender_cert_refusals_total{reason="crl_expired"} `...), c.expired.Load(), 10), '\n')
	b = append(b, "# HELP "+clientcrl.NextUpdateMetric+" "+clientcrl.NextUpdateHelp+"\n# TYPE "+clientcrl.NextUpdateMetric+" gauge\n"...)
	b = c.cur.Load().AppendNextUpdate(b, time.Now())
	w.Write(b)
}
