package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// options are what write needs: the files to put in, where to write and
// what to call the image.
type options struct {
	binary, caCerts string
	out, tag        string
	arch, version   string
}

// sizes are the figures write reports, in bytes.
type sizes struct {
	binary, layer, tarball int64
}

// Paths and user inside the image.
const (
	entrypoint = "/portcullis"
	caPath     = "/etc/ssl/certs/ca-certificates.crt"
	nonRoot    = "65532"
)

// epoch is every file's modification time and the image's creation time,
// so that the same inputs make the same image digest.
var epoch = time.Unix(0, 0).UTC()

// write builds the image of o and writes it as a docker-load tarball.
func write(o options) (sizes, error) {
	img, bin, err := build(o)
	if err != nil {
		return sizes{}, err
	}
	ref, err := name.NewTag(o.tag)
	if err != nil {
		return sizes{}, fmt.Errorf("cannot parse image tag %q: %w", o.tag, err)
	}
	if err := tarball.WriteToFile(o.out, ref, img); err != nil {
		return sizes{}, fmt.Errorf("cannot write image tarball %q: %w", o.out, err)
	}
	s := sizes{binary: int64(len(bin))}
	if s.layer, err = layerSize(img); err != nil {
		return sizes{}, err
	}
	fi, err := os.Stat(o.out)
	if err != nil {
		return sizes{}, err
	}
	s.tarball = fi.Size()
	return s, nil
}

// build returns the image of o and the binary's bytes.
func build(o options) (v1.Image, []byte, error) {
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read binary %q (run `make image`, which builds it): %w", o.binary, err)
	}
	certs, err := os.ReadFile(o.caCerts)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read CA certificates %q (install ca-certificates or pass --ca-certs): %w", o.caCerts, err)
	}
	layerTar, err := rootfs(bin, certs)
	if err != nil {
		return nil, nil, err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("cannot make the image layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot add the image layer: %w", err)
	}
	img, err = mutate.ConfigFile(img, configFile(o, img))
	if err != nil {
		return nil, nil, err
	}
	return img, bin, nil
}

// configFile is the image configuration: entrypoint, non-root user, the
// CA bundle for Go's TLS, no shell to run anything else.
func configFile(o options, img v1.Image) *v1.ConfigFile {
	cf, _ := img.ConfigFile() // empty.Image with a layer appended always has one
	cf = cf.DeepCopy()
	cf.Architecture, cf.OS = o.arch, "linux"
	cf.Created = v1.Time{Time: epoch}
	cf.Config = v1.Config{
		Entrypoint: []string{entrypoint},
		User:       nonRoot + ":" + nonRoot,
		WorkingDir: "/",
		Env:        []string{"SSL_CERT_FILE=" + caPath},
		Labels: map[string]string{
			"org.opencontainers.image.title":   "portcullis",
			"org.opencontainers.image.version": o.version,
			"org.opencontainers.image.source":  "https://github.com/portcullis/portcullis",
		},
	}
	return cf
}

// rootfs returns the layer's tar: the binary, the CA bundle, and passwd
// and group files naming root and the non-root user (as distroless's
// static image does), so that tools resolving the user find it.
func rootfs(bin, certs []byte) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	files := []struct {
		name string
		mode int64
		data []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/group", 0o444, []byte("root:x:0:\nnonroot:x:" + nonRoot + ":\n")},
		{"etc/passwd", 0o444, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:" + nonRoot + ":" + nonRoot + ":nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/ssl/", 0o755, nil},
		{"etc/ssl/certs/", 0o755, nil},
		{caPath[1:], 0o444, certs},
		{"home/", 0o755, nil},
		{"home/nonroot/", 0o700, nil},
		{entrypoint[1:], 0o555, bin},
		{"tmp/", 0o1777, nil},
	}
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data)), ModTime: epoch, Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if f.data == nil {
			h.Typeflag = tar.TypeDir
		}
		if f.name == "home/nonroot/" {
			h.Uid, h.Gid = 65532, 65532
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("cannot write %s to the layer: %w", f.name, err)
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, fmt.Errorf("cannot write %s to the layer: %w", f.name, err)
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// layerSize is the compressed size of the image's layers, what a
// registry stores and a node pulls.
func layerSize(img v1.Image) (int64, error) {
	layers, err := img.Layers()
	if err != nil {
		return 0, err
	}
	var n int64
	for _, l := range layers {
		sz, err := l.Size()
		if err != nil {
			return 0, err
		}
		n += sz
	}
	return n, nil
}
