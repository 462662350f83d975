package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// A collector given --tls-cert without --tls-key (or the key without the
// certificate, or --client-ca without either) was told "--data,
// --signing-key and one of --token-file or --client-ca (with --tls-cert
// and --tls-key) are required", with --data, --signing-key and
// --token-file all given: the line named no flag that was wrong. It now
// names the flag missing.
func TestCollectorTLSFlagsPairNamed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	base := []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", filepath.Join(dir, "k"), "--listen", "127.0.0.1:0"}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{append(base, "--token-file", "t", "--tls-cert", "c.pem"), "--tls-cert needs --tls-key"},
		{append(base, "--token-file", "t", "--tls-key", "k.pem"), "--tls-key needs --tls-cert"},
		{append(base, "--client-ca", "ca.pem"), "--client-ca needs --tls-cert and --tls-key"},
	} {
		r := portcullisWithin(t, 20e9, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) {
			t.Errorf("portcullis %s = exit %d, stderr %q; want exit 2 and %q", strings.Join(tt.args, " "), r.code, r.stderr, tt.want)
		}
	}
}
