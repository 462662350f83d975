package main

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/portcullis/portcullis/collector"
	"github.com/rs/zerolog"
)

// The collector refuses to start with a token shorter than 32 bytes (named
// in the error, never shown) or a token file that is not `name token` lines.
func TestCollectorRefusesWeakTokens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if err := collector.GenerateKey(keyFile); err != nil {
		t.Fatal(err)
	}
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(text), 0o600)
		return p
	}
	const short = "sidecar-token-too-short"
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"short bare token in file", []string{"--token-file", write("bare", short+"\n")}, `"default" is 23 bytes`},
		{"short token in file", []string{"--token-file", write("short", "sidecar-a "+short+"\n")}, `"sidecar-a" is 23 bytes`},
		{"malformed file", []string{"--token-file", write("bad", "a b c d\n")}, "line 1 is not `name token [tenants=a,b]`"},
		{"token as third field", []string{"--token-file", write("third", "a b "+short+"\n")}, "line 1 is not `name token [tenants=a,b]`"},
	}
	for _, c := range cases {
		args := append([]string{"--data", filepath.Join(dir, c.name), "--signing-key", keyFile, "--listen", "127.0.0.1:0"}, c.args...)
		f, code, ok := parseCollectorFlags(args)
		if !ok {
			t.Fatalf("%s: flags refused (%d)", c.name, code)
		}
		log := zerolog.Nop()
		err := serveCollector(f, &log)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), short) {
			t.Errorf("%s: serveCollector = %v, want an error saying %q without the token", c.name, err, c.want)
		}
	}
}

// The collector read --tls-cert and --tls-key only when it began to
// serve: after it had opened the store, checked the anchors and logged
// "collector listening", it stopped with an error that named neither flag
// ("read FILE: is a directory", "tls: failed to find any PEM data in
// certificate input"). The pair is now loaded before anything starts, and
// the error names the flags.
func TestCollectorRefusesBadTLSFilesAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if r := portcullis(t, "", nil, "audit", "keygen", "--out", keyFile); r.code != 0 {
		t.Fatalf("audit keygen: exit %d, %s", r.code, r.stderr)
	}
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(dir, "tokens")
	if err := os.WriteFile(tokenFile, []byte("sidecar-a "+strings.Repeat("t", 40)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, file := range []string{dir, garbage} {
		r := portcullis(t, "", nil, "collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--token-file", tokenFile,
			"--listen", "127.0.0.1:0", "--tls-cert", file, "--tls-key", file)
		want := 1
		if file == dir {
			want = 2 // not a regular file: a usage error (checkFlagFiles)
		}
		if r.code != want || !strings.Contains(r.stderr, "--tls-cert") || strings.Contains(r.stderr, "collector listening") || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("portcullis collector --tls-cert %s = exit %d, stderr %q; want exit %d and one line naming --tls-cert, before listening", file, r.code, r.stderr, want)
		}
	}

	// A good pair is served.
	pki := newTestPKI(t)
	addr := freeAddr(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperPortcullis$", "--", "collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile,
		"--token-file", tokenFile, "--listen", addr, "--tls-cert", pki.serverCert, "--tls-key", pki.serverKey)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	defer func() { cmd.Process.Kill(); <-exited }()
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
	defer client.CloseIdleConnections()
	pollUntil(t, pollWait, "the collector serving HTTPS with --tls-cert and --tls-key", func() (bool, string) {
		select {
		case <-exited:
			t.Fatalf("the collector exited: %s", stderr.String())
		default:
		}
		resp, err := client.Get("https://" + addr + "/healthz")
		if err != nil {
			return false, err.Error()
		}
		resp.Body.Close()
		return resp.StatusCode == 200, resp.Status
	})
	onlyAEADSuites(t, "the collector's intake", addr, pki.pool)
}

// collector --token took the senders' secret on the command line, where
// ps, /proc/PID/cmdline and the shell history show it to every local
// user; the sidecar takes its token only from --collector-token-file. The
// flag is now refused, naming --token-file, without echoing the token.
func TestCollectorRefusesTokenOnCommandLine(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	secret := strings.Repeat("s3cret", 8)
	r := portcullis(t, "", nil, "collector", "--data", dir, "--signing-key", filepath.Join(dir, "missing.key"), "--token", secret, "--listen", "999.0.0.1:1")
	if r.code != 2 || !strings.Contains(r.stderr, "--token-file") || strings.Contains(r.stderr, secret) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("portcullis collector --token SECRET = exit %d, stderr %q; want exit 2 and one line naming --token-file, without the token", r.code, r.stderr)
	}
	if r := portcullis(t, "", nil, "collector", "--help"); strings.Contains(r.stdout, "--token ") {
		t.Errorf("collector --help still offers --token:\n%s", r.stdout)
	}
}

// The collector's sender bindings and quota are checked at start, with an
// error naming the flag and the problem: --cert-tenants without
// --client-ca (no certificate would authenticate), a bad tenants= field
// in --token-file (naming its line, never the token), and a
// --sender-quota under --max-batch-bytes (the largest batch would never
// fit).
func TestCollectorRefusesBadBindingsAndQuota(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if r := portcullis(t, "", nil, "audit", "keygen", "--out", keyFile); r.code != 0 {
		t.Fatalf("audit keygen: exit %d, %s", r.code, r.stderr)
	}
	token := strings.Repeat("t", 40)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("tokens", "acme "+token+" tenants=acme\n")
	bad := write("bad-tokens", "acme "+token+" tenant=acme\n")
	bindings := write("cert-tenants", "sidecar-1 tenants=acme\n")
	for _, c := range []struct {
		args []string
		want []string
	}{
		{[]string{"--token-file", good, "--cert-tenants", bindings}, []string{"--cert-tenants", "--client-ca"}},
		{[]string{"--token-file", bad}, []string{"line 1", "tenants="}},
		{[]string{"--token-file", good, "--sender-quota", "1000"}, []string{"--sender-quota", "--max-batch-bytes"}},
		{[]string{"--token-file", good, "--sender-quota", "-2"}, []string{"--sender-quota -2", "-1 for no quota"}},
		{[]string{"--token-file", good, "--sender-quota", "0"}, []string{"--sender-quota 0", "at least 1"}},
	} {
		args := append([]string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--listen", "127.0.0.1:0"}, c.args...)
		r := portcullis(t, "", nil, args...)
		if r.code == 0 || strings.Contains(r.stderr, token) {
			t.Errorf("%v: exit %d, stderr %q; want a failure without the token", c.args, r.code, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%v: stderr %q does not name %s", c.args, r.stderr, w)
			}
		}
	}
}

// A tenants= name no policy tenant can have (upper case, non-ASCII, a
// space cut into two fields) stops the collector's start, naming the file,
// the line and the rule, never the token: it used to start and then
// refuse every batch of the sender 403 tenant_not_bound.
func TestCollectorRefusesTenantNoPolicyCanHave(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "signing.key")
	if r := portcullis(t, "", nil, "audit", "keygen", "--out", keyFile); r.code != 0 {
		t.Fatalf("audit keygen: exit %d, %s", r.code, r.stderr)
	}
	token := strings.Repeat("t", 40)
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rule := "^[a-z0-9][a-z0-9._-]{0,62}$"
	for i, c := range []struct {
		flag, file, line string
	}{
		{"--token-file", "# senders\nacme " + token + " tenants=Acme\n", "line 2"},
		{"--token-file", "acme " + token + " tenants=acme,glöbex\n", "line 1"},
		{"--token-file", "acme " + token + " tenants=acme,_x\n", "line 1"},
		{"--cert-tenants", "sidecar-1 tenants=acme\nsidecar-2 tenants=ACME\n", "line 2"},
		{"--cert-tenants", "sidecar-1 tenants=acme,-x\n", "line 1"},
	} {
		file := write(fmt.Sprintf("bindings-%d", i), c.file)
		args := []string{"collector", "--data", filepath.Join(dir, "data"), "--signing-key", keyFile, "--listen", "127.0.0.1:0", c.flag, file}
		if c.flag == "--cert-tenants" {
			args = append(args, "--token-file", write("tokens", "acme "+token+"\n"), "--client-ca", filepath.Join(dir, "ca.crt"), "--tls-cert", filepath.Join(dir, "tls.crt"), "--tls-key", filepath.Join(dir, "tls.key"))
		}
		r := portcullisWithin(t, 20*time.Second, args...)
		if r.code == 0 || strings.Contains(r.stderr, token) {
			t.Errorf("%s %q: exit %d, stderr %q; want a failure without the token", c.flag, c.file, r.code, r.stderr)
		}
		for _, w := range []string{file, c.line, rule} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("%s %q: stderr %q does not name %s", c.flag, c.file, r.stderr, w)
			}
		}
	}
}
