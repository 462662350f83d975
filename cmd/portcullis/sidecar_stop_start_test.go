package main

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A sidecar told to stop while it was starting (SIGTERM or SIGINT before
// it served: portcullis dev, stopped as its sidecar came up, and any
// sidecar with --drain-delay 0) shut its server down before the serving
// goroutine had taken the listener: that goroutine then accepted for
// ever, and the sidecar never exited. It now closes the listener too,
// and exits.
func TestSidecarStoppedWhileStartingExits(t *testing.T) {
	t.Parallel()
	for i := range 5 {
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the signal came before the listeners opened
		f := sidecarFlags{policyFile: examplePolicy, upstream: freeAddr(t), listen: freeAddr(t), admin: freeAddr(t),
			maxPerIP: 1024, drain: time.Second, logLevel: "info"}
		done := make(chan error, 1)
		go func() { done <- sidecar(ctx, f, zerolog.Nop()) }()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("run %d: sidecar stopped while starting = %v, want nil", i, err)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("run %d: sidecar stopped while starting has not returned after 20s", i)
		}
	}
}
