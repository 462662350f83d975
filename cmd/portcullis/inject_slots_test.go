package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/portcullis/portcullis/inject"
)

// Finding (injector165): any pod reaches the webhook's port, and the API
// server, its only legitimate client, calls it with a timeout of 10 s
// (30 s at most). A connection took one of the MaxConns places at
// accept, before its TLS handshake, and kept it through the handshake
// and header timeouts (10 s each), so MaxConns pods each opening a
// connection and finishing nothing (or a byte at a time) left the API
// server's next connection closed unread: its review failed, and with
// failurePolicy Fail no pod was created in a labelled namespace. With
// --client-ca, where no pod can finish the handshake, a pod still held
// a place until its handshake failed.

// slotReview is an AdmissionReview the webhook answers 200.
var slotReview = []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"group":"","version":"v1","kind":"Namespace"},"operation":"CREATE","object":{}}}`)

// apiServerReview posts slotReview on a new connection from 127.0.0.1
// (the peers of the flood are 127.0.2.x), presenting certs.
func apiServerReview(addr string, pki testPKI, certs []tls.Certificate) (int, error) {
	client := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pki.pool, Certificates: certs}, DisableKeepAlives: true}}
	resp, err := client.Post("https://"+addr+"/inject", "application/json", bytes.NewReader(slotReview))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// dialFrom opens a TCP connection to addr from the loopback address ip,
// closed at the test's end.
func dialFrom(t *testing.T, ip, addr string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestInjectorServesVerifiedPeerPastUnfinishedHandshakes: with
// --client-ca, MaxConns pods (one connection each, from as many
// addresses) open TCP and never finish the handshake, half sending
// nothing, half the first byte of a ClientHello; the API server's
// review, on a new connection with its client certificate, is answered.
func TestInjectorServesVerifiedPeerPastUnfinishedHandshakes(t *testing.T) {
	pki := newTestPKI(t)
	_, stderr, _, _ := startInjector(t, pki, "--client-ca", pki.caFile)
	addr := waitListen(t, stderr)
	for i := range inject.MaxConns {
		c := dialFrom(t, fmt.Sprintf("127.0.2.%d", 1+i), addr)
		if i%2 == 1 {
			_, _ = c.Write([]byte{0x16}) // a TLS record's first byte, a byte at a time
		}
	}
	cert, err := tls.LoadX509KeyPair(pki.clientCert, pki.clientKey)
	if err != nil {
		t.Fatal(err)
	}
	if code, err := apiServerReview(addr, pki, []tls.Certificate{cert}); err != nil || code != http.StatusOK {
		t.Errorf("with %d connections from %d pods that never finish their handshake, the API server's review: %d, %v; want 200",
			inject.MaxConns, inject.MaxConns, code, err)
	}
}

// TestInjectorServesAPIServerPastSilentConnections: without
// --client-ca, MaxConns pods finish the handshake and then send nothing,
// or the first bytes of a request (a byte at a time); the API server's
// review on a new connection is answered, one of theirs closed for it.
func TestInjectorServesAPIServerPastSilentConnections(t *testing.T) {
	pki := newTestPKI(t)
	_, stderr, _, _ := startInjector(t, pki)
	addr := waitListen(t, stderr)
	for i := range inject.MaxConns {
		raw := dialFrom(t, fmt.Sprintf("127.0.2.%d", 1+i), addr)
		c := tls.Client(raw, &tls.Config{RootCAs: pki.pool, ServerName: "127.0.0.1", NextProtos: []string{"http/1.1"}})
		if err := c.Handshake(); err != nil {
			t.Fatalf("connection %d of the flood: %v", i, err)
		}
		if i%2 == 1 {
			_, _ = c.Write([]byte("POST /inject HTTP/1.1\r\nH"))
		}
	}
	if code, err := apiServerReview(addr, pki, nil); err != nil || code != http.StatusOK {
		t.Errorf("with %d connections from %d pods sending nothing or a partial request, the API server's review: %d, %v; want 200",
			inject.MaxConns, inject.MaxConns, code, err)
	}
}

// TestInjectorServesAPIServerPastTricklingBodies: without --client-ca,
// MaxConns pods each keep a request in progress, its headers sent and
// its body withheld (the webhook reads a body for 2 s at most, then
// answers), reconnecting as soon as they are answered; five reviews of
// the API server, each on a new connection, are answered.
func TestInjectorServesAPIServerPastTricklingBodies(t *testing.T) {
	pki := newTestPKI(t)
	_, stderr, _, _ := startInjector(t, pki)
	addr := waitListen(t, stderr)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	t.Cleanup(func() { close(stop); wg.Wait() })
	active := make(chan struct{}, inject.MaxConns)
	for i := range inject.MaxConns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(fmt.Sprintf("127.0.2.%d", 1+i))}}
			for first := true; ; first = false {
				select {
				case <-stop:
					return
				default:
				}
				c, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{RootCAs: pki.pool, NextProtos: []string{"http/1.1"}})
				if err != nil {
					continue // closed for a newcomer: reconnect
				}
				go func() { <-stop; c.Close() }()
				_, _ = c.Write([]byte("POST /inject HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n"))
				br := bufio.NewReader(c)
				// 100 Continue: the handler reads the body, the request is in progress.
				if resp, err := http.ReadResponse(br, nil); err == nil && resp.StatusCode == http.StatusContinue {
					if first {
						active <- struct{}{}
					}
					_, _ = http.ReadResponse(br, nil) // the answer, once the body's read times out
				}
				c.Close()
			}
		}()
	}
	for range inject.MaxConns {
		select {
		case <-active:
		case <-time.After(60 * time.Second):
			t.Fatal("the flood's requests did not all start within 60 s")
		}
	}
	for i := range 5 {
		if code, err := apiServerReview(addr, pki, nil); err != nil || code != http.StatusOK {
			t.Fatalf("with %d pods each keeping a request in progress, the API server's review %d: %d, %v; want 200",
				inject.MaxConns, i+1, code, err)
		}
	}
}
