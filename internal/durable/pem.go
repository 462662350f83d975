package durable

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxPEMBytes caps a PEM file: a certificate chain, its key or a CA
// bundle. A chain of ten 4096-bit RSA certificates is some 20 KiB; a file
// larger than 1 MiB is a mistake (a log, an image, /var/log/syslog named
// by a typo), and it was read whole into memory.
const MaxPEMBytes = 1 << 20

// MaxSecretBytes caps a secret read from a file a policy names
// (`file:PATH`: an issuer's HMAC secret, a ticket sink's token): a secret
// is at most a few KiB, and such a file was read whole, a wrong path
// naming a log or an image until the memory ran out.
const MaxSecretBytes = 1 << 20

// ReadPEM reads the PEM file path, a regular file of at most MaxPEMBytes
// (ReadRegularMax).
func ReadPEM(path string) ([]byte, error) { return ReadRegularMax(path, MaxPEMBytes) }

// LoadX509KeyPair is tls.LoadX509KeyPair through ReadPEM: each file is a
// regular file of at most MaxPEMBytes, and an error names the file.
func LoadX509KeyPair(certFile, keyFile string) (tls.Certificate, error) {
	certPEM, err := readPEMNamed(certFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	keyPEM, err := readPEMNamed(keyFile)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

// readPEMNamed is ReadPEM with the path in every error (an *os.PathError
// names it already).
func readPEMNamed(path string) ([]byte, error) {
	b, err := ReadPEM(path)
	var pe *os.PathError
	if err != nil && !errors.As(err, &pe) {
		err = fmt.Errorf("%s: %w", path, err)
	}
	return b, err
}

// ReadAllMax reads r to its end, at most max bytes: more is refused with
// ErrTooLarge naming the cap, after reading max+1 bytes, never the rest.
// It caps a stream (stdin, a pipe) as ReadRegularMax caps a file.
func ReadAllMax(r io.Reader, max int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, max+1))
	if err == nil && int64(len(data)) > max {
		err = fmt.Errorf("%w: over the cap of %s", ErrTooLarge, FormatCap(max))
	}
	if err != nil {
		return nil, err
	}
	return data, nil
}
