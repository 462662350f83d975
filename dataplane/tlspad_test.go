package dataplane

import (
	"bufio"
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestTLSPaddingBudget: TLS 1.3 lets a record carry nothing but padding,
// up to 16 KiB, and crypto/tls skips up to 16 such records in a row
// before each record of data. The budgets of the request path count the
// bytes TLS hands the sidecar, so a client sent one byte of a chunk
// extension per 16 records of padding, 265 KiB on the wire per byte, and
// the sidecar read and decrypted them for its whole ReadTimeout, the
// chunk budget (chunkbudget.go) and the 16 KiB allowed a body before
// authentication notwithstanding (64 MiB here). The bytes on the wire of
// a TLS connection are now bounded by what it delivers (tlsWire).
func TestTLSPaddingBudget(t *testing.T) {
	ca := newAuthority(t, "server CA")
	files := tlsFiles(t, ca.issue(t, "sidecar", nil, true), nil)
	st := startStack(t, func(c *Config) { c.TLS = files; c.ReadTimeout = 5 * time.Second })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)

	raw, err := net.Dial("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	raw.(*net.TCPConn).SetWriteBuffer(64 << 10)
	var keys bytes.Buffer
	c := tls.Client(raw, &tls.Config{RootCAs: roots, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13, KeyLogWriter: &keys})
	c.SetDeadline(time.Now().Add(20 * time.Second))
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	if cs := c.ConnectionState().CipherSuite; cs != tls.TLS_AES_128_GCM_SHA256 {
		t.Skipf("cipher suite %s: the test writes records of TLS_AES_128_GCM_SHA256 only", tls.CipherSuiteName(cs))
	}
	w := recordWriter(t, keys.String())

	written := make(chan int64, 1)
	go func() {
		n, err := raw.Write(w.record([]byte("POST /v1/records HTTP/1.1\r\nHost: svc\r\nTransfer-Encoding: chunked\r\n\r\n1;"), 0))
		total := int64(n)
		for total < 64<<20 && err == nil {
			var b []byte
			for range 16 {
				b = append(b, w.record(nil, 16<<10-1)...)
			}
			b = append(b, w.record([]byte("a"), 0)...)
			n, err = raw.Write(b)
			total += int64(n)
		}
		written <- total
	}()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	c.Read(make([]byte, 1024)) // the 400, or the connection closed
	if n := <-written; n >= 16<<20 {
		t.Errorf("the sidecar read %d bytes of TLS padding (64 MiB sent, 1 byte of data per 265 KiB); want it to stop after its budget", n)
	}

	// A TLS client of ordinary records is served, twice on one connection.
	k, err := dialTLS(st.addr, roots, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer k.c.Close()
	for i := range 2 {
		r, err := k.send("GET", "/v1/users/7", key(hrisKey))
		if err != nil || r.status != 200 {
			t.Fatalf("request %d over TLS: %v %v, want 200", i+1, r.status, err)
		}
	}
}

// tlsRecords writes TLS 1.3 application data records of the client's
// first traffic secret (TLS_AES_128_GCM_SHA256), as the client would,
// with any padding: crypto/tls sends none, so the test writes them itself
// on the connection the client shook hands on.
type tlsRecords struct {
	aead cipher.AEAD
	iv   []byte
	seq  uint64
}

func recordWriter(t *testing.T, keyLog string) *tlsRecords {
	t.Helper()
	var secret []byte
	for _, l := range strings.Split(keyLog, "\n") {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "CLIENT_TRAFFIC_SECRET_0" {
			secret, _ = hex.DecodeString(f[2])
		}
	}
	if secret == nil {
		t.Fatalf("no client traffic secret in the key log %q", keyLog)
	}
	label := func(name string, n int) []byte {
		info := binary.BigEndian.AppendUint16(nil, uint16(n))
		info = append(append(info, byte(len("tls13 "+name))), "tls13 "+name...)
		b, err := hkdf.Expand(sha256.New, secret, string(append(info, 0)), n)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	block, err := aes.NewCipher(label("key", 16))
	if err != nil {
		t.Fatal(err)
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		t.Fatal(err)
	}
	return &tlsRecords{aead: aead, iv: label("iv", 12)}
}

// record returns the record of data followed by pad zero bytes of padding.
func (w *tlsRecords) record(data []byte, pad int) []byte {
	inner := append(append(append([]byte(nil), data...), 23), make([]byte, pad)...)
	hdr := []byte{23, 3, 3, 0, 0}
	binary.BigEndian.PutUint16(hdr[3:], uint16(len(inner)+w.aead.Overhead()))
	nonce := append([]byte(nil), w.iv...)
	for i := range 8 {
		nonce[4+i] ^= byte(w.seq >> (56 - 8*i))
	}
	w.seq++
	return w.aead.Seal(hdr, nonce, inner, hdr)
}

// TestTLSSmallRecordsServed: a client that writes its body a byte at a
// time sends each byte in a record of its own, 23 bytes on the wire in
// TLS 1.3 and 30 in TLS 1.2 with AES-GCM (53 with AES-CBC and SHA-1,
// which the listener no longer takes: TestTLS12CBCRefused). The bound on
// a TLS connection's wire bytes (tlsWire), 8 times the bytes delivered
// plus 512 KiB, cut such a client off past some 35 KiB of body (12 KiB
// in TLS 1.2 CBC): a 400 and the connection reset, where the sidecar
// served it before. It is served, in either version.
func TestTLSSmallRecordsServed(t *testing.T) {
	ca := newAuthority(t, "server CA")
	files := tlsFiles(t, ca.issue(t, "sidecar", nil, true), nil)
	st := startStack(t, func(c *Config) { c.TLS = files })
	roots := x509.NewCertPool()
	roots.AddCert(ca.cert)
	const size = 128 << 10
	for _, cfg := range []*tls.Config{
		{MinVersion: tls.VersionTLS13},
		{MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256}},
	} {
		cfg.RootCAs, cfg.ServerName = roots, "127.0.0.1"
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: 10 * time.Second}, "tcp", st.addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		suite := tls.CipherSuiteName(c.ConnectionState().CipherSuite)
		for i := range 2 { // twice on one connection
			fmt.Fprintf(c, "POST /v1/records HTTP/1.1\r\nHost: svc\r\nX-API-Key: %s\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", hrisKey, size)
			var werr error
			for n := 0; n < size && werr == nil; n++ {
				_, werr = c.Write([]byte{'a'})
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if werr != nil || err != nil || resp.StatusCode != 200 {
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				t.Fatalf("%s, request %d: a body of %d bytes written a byte at a time: write %v, response %d %v; want 200", suite, i+1, size, werr, status, err)
			}
			io.Copy(io.Discard, resp.Body)
		}
	}
}
