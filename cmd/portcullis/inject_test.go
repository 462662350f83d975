package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInjectCommand runs `portcullis inject` on the docs' Deployment: the
// sidecar is added (as JSON with -o json), the warning goes to stderr, and
// a missing -f is a usage error.
func TestInjectCommand(t *testing.T) {
	t.Parallel()
	r := portcullis(t, "", nil, "inject", "-f", "../../inject/testdata/k8s-docs/nginx-deployment.yaml", "-o", "json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var dep struct {
		Spec struct {
			Template struct {
				Spec struct {
					InitContainers []struct{ Name, Image, RestartPolicy string } `json:"initContainers"`
				}
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &dep); err != nil {
		t.Fatalf("stdout is not one JSON object: %v\n%s", err, r.stdout)
	}
	ics := dep.Spec.Template.Spec.InitContainers
	if len(ics) != 1 || ics[0].Name != "portcullis" || ics[0].RestartPolicy != "Always" || ics[0].Image != "portcullis:dev" {
		t.Errorf("init containers = %+v, want the native portcullis sidecar", ics)
	}
	if !strings.Contains(r.stderr, `no container port is named "http"`) {
		t.Errorf("stderr = %q, want the warning about the unnamed port", r.stderr)
	}
	if r := portcullis(t, "", nil, "inject", "-o", "yaml"); r.code != 2 || !strings.Contains(r.stderr, "-f FILE is required") {
		t.Errorf("without -f: exit %d, stderr %q; want 2 naming -f", r.code, r.stderr)
	}
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("image: x\nsurprise: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := portcullis(t, "", nil, "inject", "-f", "-", "--config", bad); r.code != 1 || !strings.Contains(r.stderr, "surprise") {
		t.Errorf("unknown config field: exit %d, stderr %q; want 1 naming it", r.code, r.stderr)
	}
}

// TestInjectorServes starts `portcullis injector` as a process, sends an
// AdmissionReview over HTTPS, checks the JSONPatch, replaces the
// certificate files and sees the new certificate served without a
// restart, then stops it with SIGTERM (exit 0).
func TestInjectorServes(t *testing.T) {
	t.Parallel()
	first, second := newTestPKI(t), newTestPKI(t)
	cmd, stderr, certFile, keyFile := startInjector(t, first)
	addr := waitListen(t, stderr)
	review := []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u-1","kind":{"group":"","version":"v1","kind":"Pod"},
		"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"shop","operation":"CREATE",
		"object":{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"api-","annotations":{"portcullis.dev/inject":"true"}},
		"spec":{"containers":[{"name":"api","image":"api:1","ports":[{"name":"http","containerPort":8081}]}]}}}}`)
	for i, pki := range []testPKI{first, second} {
		if i == 1 {
			copyFile(t, second.serverCert, certFile)
			copyFile(t, second.serverKey, keyFile)
		}
		client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pki.pool}}}
		var resp *http.Response
		var err error
		deadline := time.Now().Add(30 * time.Second)
		for {
			resp, err = client.Post("https://"+addr+"/inject", "application/json", bytes.NewReader(review))
			if err == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond) // the injector re-reads the files at most once a second
		}
		if err != nil {
			t.Fatalf("certificate %d: %v", i+1, err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var got struct {
			Response struct {
				UID       string `json:"uid"`
				Allowed   bool   `json:"allowed"`
				PatchType string `json:"patchType"`
				Patch     []byte `json:"patch"`
			} `json:"response"`
		}
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if r := got.Response; r.UID != "u-1" || !r.Allowed || r.PatchType != "JSONPatch" || !bytes.Contains(r.Patch, []byte(`"restartPolicy":"Always"`)) {
			t.Errorf("certificate %d: response %+v, want allowed with a JSONPatch adding the native sidecar", i+1, r)
		}
	}
	onlyAEADSuites(t, "the injector", addr, second.pool)
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("after SIGTERM: %v, want exit 0", err)
	}
}

// waitListen reads the injector's log until it says where it serves.
func waitListen(t *testing.T, stderr io.Reader) string {
	t.Helper()
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var line struct{ Message, Listen string }
			if json.Unmarshal(sc.Bytes(), &line) == nil && line.Message == "injector serving" {
				found <- line.Listen
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case addr := <-found:
		return addr
	case <-time.After(60 * time.Second):
		t.Fatal("the injector did not say it serves within 60s")
	}
	return ""
}

// copyFile replaces dst by src's contents through a rename, as the
// kubelet updates a mounted Secret.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

// TestWaitCommand: `portcullis wait` takes one duration and exits 0.
func TestWaitCommand(t *testing.T) {
	t.Parallel()
	if r := portcullis(t, "", nil, "wait", "10ms"); r.code != 0 {
		t.Errorf("wait 10ms = exit %d: %s", r.code, r.stderr)
	}
	// An address that can never be dialled is a usage error at once, not
	// a hook that fails only after its whole DURATION.
	for _, args := range [][]string{{"wait"}, {"wait", "5"}, {"wait", "soon"}, {"wait", "--listening=nope", "1h"},
		{"wait", "--listening=127.0.0.1:http", "1h"}, {"wait", "--listening=127.0.0.1:0", "1h"}, {"wait", "--listening=127.0.0.1:65536", "1h"}} {
		if r := portcullis(t, "", nil, args...); r.code != 2 {
			t.Errorf("%v = exit %d, want 2 (usage error): %s", args, r.code, r.stderr)
		}
	}
}

// inject warned "portcullis: not injected: the pod uses the node's
// network" without saying which of a manifest's workloads it had left
// without the sidecar, and in another prefix than its errors'. Each
// warning line now starts "portcullis inject: document N: KIND "NAME": ",
// as its errors do.
func TestInjectWarningsNameTheWorkload(t *testing.T) {
	t.Parallel()
	manifest := filepath.Join(t.TempDir(), "two.yaml")
	doc := `apiVersion: apps/v1
kind: Deployment
metadata: {name: web}
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: nginx, ports: [{containerPort: 3000, name: http}]}]
---
apiVersion: v1
kind: Pod
metadata: {name: node-agent}
spec:
  hostNetwork: true
  containers: [{name: agent, image: agent, ports: [{containerPort: 3001}]}]
`
	if err := os.WriteFile(manifest, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	r := portcullis(t, "", nil, "inject", "-f", manifest)
	if r.code != 0 {
		t.Fatalf("inject = exit %d: %s", r.code, r.stderr)
	}
	want := `portcullis inject: document 2: Pod "node-agent": not injected: the pod uses the node's network`
	if !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("inject stderr = %q, want one line starting %q", r.stderr, want)
	}
}

// inject -f app.yaml -o xml said "-f FILE is required and -o must be yaml
// or json" although -f was given; each problem is now named alone.
func TestInjectNamesTheBadFlag(t *testing.T) {
	t.Parallel()
	for args, want := range map[string]string{
		"-f app.yaml -o xml": "portcullis inject: -o xml: want yaml or json",
		"-o json":            "portcullis inject: -f FILE is required",
	} {
		r := portcullis(t, "", nil, append([]string{"inject"}, strings.Fields(args)...)...)
		if r.code != 2 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("inject %s = exit %d, stderr %q; want exit 2 and one line starting %q", args, r.code, r.stderr, want)
		}
	}
}

// inject -f - with nothing piped in (a kustomize build that printed
// nothing) said only "-: yaml: expected STREAM-START". It now says stdin
// is empty; an empty file is named the same way.
func TestInjectEmptyInputSaysSo(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "\n  \n", "# only a comment\n"} {
		r := portcullisStdin(t, in, "inject", "-f", "-")
		if want := "portcullis inject: stdin is empty: no manifest to inject"; r.code != 1 || !strings.HasPrefix(r.stderr, want) || strings.Count(r.stderr, "\n") != 1 || r.stdout != "" {
			t.Errorf("inject -f - with stdin %q = exit %d, stdout %q, stderr %q; want exit 1 and one line starting %q", in, r.code, r.stdout, r.stderr, want)
		}
	}
	empty := filepath.Join(t.TempDir(), "empty.yaml")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if r := portcullisStdin(t, "", "inject", "-f", empty); r.code != 1 || !strings.Contains(r.stderr, empty+" is empty: no manifest to inject") {
		t.Errorf("inject -f %s (empty) = exit %d, stderr %q; want exit 1 naming the file as empty", empty, r.code, r.stderr)
	}
}

// startInjector runs `portcullis injector` as a process on a loopback
// port, serving pki's server certificate from files of its own (copied,
// as the kubelet mounts a Secret: a test replaces them to rotate), and
// returns the process, its stderr (JSON lines; waitListen reads the
// address) and the two files. extra are more flags.
func startInjector(t *testing.T, pki testPKI, extra ...string) (cmd *exec.Cmd, stderr io.ReadCloser, certFile, keyFile string) {
	t.Helper()
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	copyFile(t, pki.serverCert, certFile)
	copyFile(t, pki.serverKey, keyFile)
	cmd = exec.Command(os.Args[0], "-test.run=^TestHelperPortcullis$", "--", "injector", "--listen", "127.0.0.1:0", "--tls-cert", certFile, "--tls-key", keyFile)
	cmd.Args = append(cmd.Args, extra...)
	cmd.Env = append(os.Environ(), helperEnv+"=1")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, stderr, certFile, keyFile
}
