// Command mkimage writes the container image of the portcullis binary
// without Docker: one layer holding the static binary, the CA
// certificates and a passwd entry for the non-root user, on an empty
// base, written as a tarball that `docker load` and `crane push` accept.
// `make image` builds the binary (CGO off, -trimpath, -ldflags "-s -w")
// and runs it:
//
//	mkimage --binary bin/image/portcullis --out bin/portcullis-image.tar
//
// The image has no shell and no package manager; it runs as user 65532
// with /portcullis as its entrypoint, so a pod's args name the command
// (sidecar, collector, injector).
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
)

func main() {
	var o options
	fs := flag.NewFlagSet("mkimage", flag.ExitOnError)
	fs.StringVar(&o.binary, "binary", "bin/image/portcullis", "static portcullis `binary` to put in the image")
	fs.StringVar(&o.caCerts, "ca-certs", "/etc/ssl/certs/ca-certificates.crt", "PEM `bundle` of CA certificates to put in the image")
	fs.StringVar(&o.out, "out", "bin/portcullis-image.tar", "image tarball to write (`path`)")
	fs.StringVar(&o.tag, "tag", "portcullis:dev", "image `reference` recorded in the tarball")
	fs.StringVar(&o.arch, "arch", runtime.GOARCH, "image `architecture` (the binary's GOARCH)")
	fs.StringVar(&o.version, "version", "dev", "`version` label of the image")
	fs.Parse(os.Args[1:])
	sizes, err := write(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "mkimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("wrote %s (%s): binary %d bytes, compressed layer %d bytes, tarball %d bytes\n", o.out, o.tag, sizes.binary, sizes.layer, sizes.tarball)
}
