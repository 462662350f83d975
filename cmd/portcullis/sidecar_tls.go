package main

import (
	"errors"
	"flag"
	"time"

	"github.com/portcullis/portcullis/dataplane"
)

// listenTLSFlags are the sidecar's flags for TLS on its listener.
type listenTLSFlags struct {
	cert, key, clientCA, clientCRL string
	reload                         time.Duration
}

func (f *listenTLSFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.cert, "tls-cert", "", "PEM `file` of the listener's certificate chain: serve HTTPS (reloaded when it changes)")
	fs.StringVar(&f.key, "tls-key", "", "PEM `file` of the key of --tls-cert")
	fs.StringVar(&f.clientCA, "client-ca", "", "PEM `file` of the CAs of client certificates (mTLS): a certificate is asked for, verified, and mapped to a client by mtls_identities (re-read as soon as a handshake sees it changed, looked at most once a second: a CA taken out is refused from then on, on connections kept alive too)")
	fs.StringVar(&f.clientCRL, "client-crl", "", "`file` of CRLs (PEM or DER) of --client-ca's CAs, each signed by its CA: a client certificate its CA's CRL lists, or whose CA's CRL is past its nextUpdate, fails the handshake; a CA without a CRL revokes nothing (re-read as soon as a handshake sees it changed, looked at most once a second)")
	fs.DurationVar(&f.reload, "tls-reload", 10*time.Second, "how often the --tls-cert, --tls-key, --client-ca and --client-crl files are checked for a change (--client-ca and --client-crl also at handshakes: see them)")
}

// check refuses an incomplete TLS setup.
func (f *listenTLSFlags) check() error {
	switch {
	case (f.cert == "") != (f.key == ""):
		return errors.New("--tls-cert and --tls-key go together; give both, or neither for plain HTTP")
	case f.clientCA != "" && f.cert == "":
		return errors.New("--client-ca needs TLS on the listener; give --tls-cert and --tls-key too")
	case f.clientCRL != "" && f.clientCA == "":
		return errors.New("--client-crl revokes client certificates: give --client-ca too")
	case f.reload <= 0:
		return errors.New("--tls-reload must be positive, e.g. 10s")
	}
	return nil
}

// config returns the data plane's TLS settings, or nil for plain HTTP.
func (f *listenTLSFlags) config() *dataplane.TLS {
	if f.cert == "" {
		return nil
	}
	return &dataplane.TLS{CertFile: f.cert, KeyFile: f.key, ClientCAFile: f.clientCA, ClientCRLFile: f.clientCRL, Reload: f.reload}
}
