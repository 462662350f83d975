package audit

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/portcullis/portcullis/internal/durable"
)

// ClientTLS returns the TLS configuration of an Emitter for a collector
// served over TLS: caFile (PEM) is the CA that signed the collector's
// certificate ("" trusts the system roots), and certFile with keyFile is
// the client certificate for a collector that accepts client certificates
// (both or neither). It returns nil when all three are empty.
func ClientTLS(caFile, certFile, keyFile string) (*tls.Config, error) {
	if caFile == "" && certFile == "" && keyFile == "" {
		return nil, nil
	}
	if (certFile == "") != (keyFile == "") {
		return nil, errors.New("audit: a client certificate needs both a certificate and a key file")
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := durable.ReadPEM(caFile)
		if err != nil {
			return nil, fmt.Errorf("audit: cannot read collector CA %q: %w", caFile, err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("audit: collector CA %q holds no PEM certificate", caFile)
		}
	}
	if certFile != "" {
		cert, err := durable.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("audit: cannot load client certificate %q with key %q: %w", certFile, keyFile, err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}
