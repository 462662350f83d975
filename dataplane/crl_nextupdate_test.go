package dataplane

import (
	"math"
	"testing"
	"time"

	"github.com/portcullis/portcullis/internal/clientcrl"
)

// TestTLSClientCRLNextUpdateGauge: /metrics shows, for each client CRL in
// force, the seconds until its nextUpdate, by its CA's subject and key, so
// that an alert can fire before the CRL expires (past it every
// certificate of the CA is refused at the handshake); negative once past.
// Two CAs of one name (a CA rollover) are two series. Before, only the
// count of CRLs already expired was shown, which warns too late.
func TestTLSClientCRLNextUpdateGauge(t *testing.T) {
	c := newCRLCase(t)
	rolled := newAuthority(t, "client CA") // same name, another key
	gone := newAuthority(t, "old CA")
	ca := append(append(append([]byte(nil), c.clientCA.pem...), rolled.pem...), gone.pem...)
	writeFile(t, c.files.ClientCAFile, ca)
	now := time.Now()
	st := startStack(t, func(cfg *Config) {
		cfg.TLS = withCRL(t, c.files, crlPEM(
			c.clientCA.crl(t, now.Add(-time.Minute), now.Add(3*time.Hour)),
			rolled.crl(t, now.Add(-time.Minute), now.Add(30*time.Hour)),
			gone.crl(t, now.Add(-2*time.Hour), now.Add(-time.Hour)),
		))
	})
	fams := parseExposition(t, scrape(t, st.srv))
	f := fams["portcullis_tls_client_crl_next_update_seconds"]
	if f == nil {
		t.Fatal("/metrics lacks portcullis_tls_client_crl_next_update_seconds")
	}
	want := map[string]float64{ // by ca_key
		clientcrl.KeyID(c.clientCA.cert.RawSubjectPublicKeyInfo): 3 * 3600,
		clientcrl.KeyID(rolled.cert.RawSubjectPublicKeyInfo):     30 * 3600,
		clientcrl.KeyID(gone.cert.RawSubjectPublicKeyInfo):       -3600,
	}
	issuer := map[string]string{
		clientcrl.KeyID(c.clientCA.cert.RawSubjectPublicKeyInfo): "CN=client CA",
		clientcrl.KeyID(rolled.cert.RawSubjectPublicKeyInfo):     "CN=client CA",
		clientcrl.KeyID(gone.cert.RawSubjectPublicKeyInfo):       "CN=old CA",
	}
	if len(f.GetMetric()) != len(want) {
		t.Fatalf("%d series, want %d: %v", len(f.GetMetric()), len(want), f.GetMetric())
	}
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		w, ok := want[labels["ca_key"]]
		if !ok {
			t.Errorf("series of an unknown ca_key: %v", labels)
			continue
		}
		if labels["issuer"] != issuer[labels["ca_key"]] {
			t.Errorf("ca_key %s: issuer %q, want %q", labels["ca_key"], labels["issuer"], issuer[labels["ca_key"]])
		}
		if got := m.GetGauge().GetValue(); math.Abs(got-w) > 60 {
			t.Errorf("issuer %s ca_key %s: %v seconds to nextUpdate, want about %v", labels["issuer"], labels["ca_key"], got, w)
		}
	}
}
