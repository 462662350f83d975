package main

import (
	"crypto/x509"
	"fmt"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"

	"github.com/portcullis/portcullis/internal/durable"
)

// reloaded holds what was loaded from files, loading them again when
// their size or modification time changes, looked at most once per
// second. While it holds something loaded before, files it cannot load
// (mid-update: the kubelet swaps a symlink; or bad) keep that in force:
// refused is called once per failure, again once they load after one.
type reloaded[T any] struct {
	mu      sync.Mutex // guards the following fields
	loaded  T
	ok      bool
	stamp   string
	refused string // the failure last logged, "" when the files loaded
	checked time.Time
}

func (r *reloaded[T]) get(paths []string, load func() (T, error), refused func(error), again func()) (T, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ok && time.Since(r.checked) < time.Second {
		return r.loaded, nil
	}
	r.checked = time.Now()
	stamp, err := fileStamp(paths...)
	if err != nil {
		return r.fallbackLocked(err.Error(), err, refused)
	}
	if r.ok && stamp == r.stamp {
		return r.loaded, nil
	}
	v, err := load()
	if err != nil {
		return r.fallbackLocked(stamp, err, refused)
	}
	if r.refused != "" && r.ok {
		again()
	}
	r.loaded, r.ok, r.stamp, r.refused = v, true, stamp, ""
	return v, nil
}

// fallbackLocked keeps what was loaded before, calling refused once for
// the failure what names, else returns err.
func (r *reloaded[T]) fallbackLocked(what string, err error, refused func(error)) (T, error) {
	if !r.ok {
		var zero T
		return zero, err
	}
	if what != r.refused {
		r.refused = what
		refused(err)
	}
	return r.loaded, nil
}

// fileStamp identifies the current contents of the files by size,
// modification time, inode and change time: a file replaced by one of
// the same size whose modification time was kept (cp -p, tar) was taken
// for unchanged (TestInjectorRereadsClientCAOfSameSizeAndTime); its
// inode or change time, which no one sets, differs.
func fileStamp(paths ...string) (string, error) {
	var s string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", fmt.Errorf("cannot read %q: %w", p, err)
		}
		s += fmt.Sprintf("%d/%d", fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			s += fmt.Sprintf("/%d/%d.%d", st.Ino, st.Ctim.Sec, st.Ctim.Nsec)
		}
		s += ";"
	}
	return s, nil
}

// caBundle is a CA bundle file a client verifies its server with
// (--collector-cacert), re-read when it changes (reloaded), as
// clientCAFile is on the server side: read at start only, a CA rotation
// (cert-manager or trust-manager adding the new CA to the bundle, then
// taking the old one out) took a restart, and a process started with a
// bundle lacking the new CA refused every server certificate it signed.
// A file it cannot load keeps the CAs loaded before, with one warn line
// naming the flag, and one info line once it loads again.
type caBundle struct {
	flag, path string // the flag without its dashes, and its file
	log        zerolog.Logger
	pems       reloaded[*x509.CertPool]
}

// pool returns the CAs in force.
func (c *caBundle) pool() (*x509.CertPool, error) {
	return c.pems.get([]string{c.path}, func() (*x509.CertPool, error) { return loadCAs(c.flag, c.path) }, func(err error) {
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
