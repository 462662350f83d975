package main

import (
	"crypto/x509"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/durable"
	"github.com/portcullis/portcullis/internal/reload"
)

// caBundle is a CA bundle file a client verifies its server with
// (--collector-cacert), re-read when it changes (reload.Value), as
// clientCAFile is on the server side: read at start only, a CA rotation
// (cert-manager or trust-manager adding the new CA to the bundle, then
// taking the old one out) took a restart, and a process started with a
// bundle lacking the new CA refused every server certificate it signed.
// A file it cannot load keeps the CAs loaded before, with one warn line
// naming the flag, and one info line once it loads again.
type caBundle struct {
	flag, path string // the flag without its dashes, and its file
	log        zerolog.Logger
	pems       reload.Value[*x509.CertPool]
}

// pool returns the CAs in force.
func (c *caBundle) pool() (*x509.CertPool, error) {
	return c.pems.Get([]string{c.path}, func() (*x509.CertPool, error) { return loadCAs(c.flag, c.path) }, func(err error) {
		c.log.Warn().Err(err).Str("flag", "--"+c.flag).Str("file", c.path).Msg("CA file refused: still verifying with the CAs loaded before, until it holds a valid one")
	}, func() { c.log.Info().Str("flag", "--"+c.flag).Str("file", c.path).Msg("CA file loaded again") })
}

// loadCAs reads the PEM CA bundle path of --flag; an error names both.
func loadCAs(flag, path string) (*x509.CertPool, error) {
	b, err := durable.ReadPEM(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read --%s %q: %w", flag, path, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("--%s %q holds no PEM certificate", flag, path)
	}
	return pool, nil
}
