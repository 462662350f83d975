package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// buildStatic builds cmd/portcullis as `make image` does: CGO off,
// -trimpath, symbols stripped.
func buildStatic(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "portcullis")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "../../../cmd/portcullis")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// The tarball mkimage writes is an image go-containerregistry's tarball
// reader loads (the format `docker load` and `crane push` take) under its
// tag, with the entrypoint, a non-root user, the static binary and the CA
// bundle in its one layer, and no shell; its compressed size is under the
// 20 MB goal of issue 16.
func TestImageTarball(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the portcullis binary")
	}
	bin := buildStatic(t)
	out := filepath.Join(t.TempDir(), "image.tar")
	o := options{binary: bin, caCerts: "/etc/ssl/certs/ca-certificates.crt", out: out, tag: "portcullis:test", arch: "amd64", version: "test"}
	if _, err := os.Stat(o.caCerts); err != nil {
		t.Skipf("no CA bundle on this machine: %v", err)
	}
	sz, err := write(o)
	if err != nil {
		t.Fatal(err)
	}
	tag, _ := name.NewTag(o.tag)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatalf("tarball.ImageFromPath: %v", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cf.Config.Entrypoint, []string{"/portcullis"}; !slices.Equal(got, want) {
		t.Errorf("entrypoint %q, want %q", got, want)
	}
	if got, want := cf.Config.User, "65532:65532"; got != want {
		t.Errorf("user %q, want %q", got, want)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" {
		t.Errorf("platform %s/%s, want linux/amd64", cf.OS, cf.Architecture)
	}
	layers, err := img.Layers()
	if err != nil || len(layers) != 1 {
		t.Fatalf("%d layers (%v), want 1", len(layers), err)
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var binary bytes.Buffer
	files := map[string]*tar.Header{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the layer: %v", err)
		}
		files[h.Name] = h
		if h.Name == "portcullis" {
			io.Copy(&binary, tr)
		}
	}
	want, _ := os.ReadFile(bin)
	if !bytes.Equal(binary.Bytes(), want) {
		t.Errorf("the layer's /portcullis (%d bytes) is not the built binary (%d bytes)", binary.Len(), len(want))
	}
	if h := files["portcullis"]; h == nil || h.Mode&0o111 == 0 || h.Uid != 0 {
		t.Errorf("/portcullis header %+v: want an executable owned by root", h)
	}
	if h := files["etc/ssl/certs/ca-certificates.crt"]; h == nil || h.Size == 0 {
		t.Errorf("no CA bundle in the layer")
	}
	for _, sh := range []string{"bin/sh", "bin/bash", "bin/busybox", "usr/bin/sh"} {
		if files[sh] != nil {
			t.Errorf("the layer has a shell: %s", sh)
		}
	}
	f, err := elf.NewFile(bytes.NewReader(binary.Bytes()))
	if err != nil {
		t.Fatalf("the binary is not ELF: %v", err)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("the binary has a dynamic interpreter: not static (CGO_ENABLED=0?)")
		}
	}
	if sz.layer >= 20<<20 {
		t.Errorf("compressed layer %d bytes, goal under 20 MiB", sz.layer)
	}
	t.Logf("binary %d bytes, compressed layer %d bytes, tarball %d bytes", sz.binary, sz.layer, sz.tarball)
}
