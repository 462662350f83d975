package main

import (
	"context"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/rs/zerolog"
)

// runUntilSignal runs a long-running command until SIGTERM, SIGINT or one
// of also ends its context, and returns its exit code: 0 when run returns
// nil, else 1, with the error logged under msg.
func runUntilSignal(log zerolog.Logger, msg string, run func(context.Context) error, also ...os.Signal) int {
	ctx, stop := signal.NotifyContext(context.Background(), append([]os.Signal{syscall.SIGTERM, syscall.SIGINT}, also...)...)
	defer stop()
	if err := run(ctx); err != nil {
		log.Error().Err(err).Msg(msg)
		return 1
	}
	return 0
}

// ignoreHangup keeps SIGHUP from killing a process that has nothing to
// reload on it (its default action is to terminate: no drain, records in
// memory lost): each one is logged with why, until the returned function
// is called, and caught unlogged from then on, until the process exits:
// the process is ending, and SIGHUP let go killed it on the way out.
// Nor is it handed to signal.Ignore: the runtime clears its wish for the
// signal before it marks it ignored, and one landing between the two
// stores killed a sidecar that had stopped cleanly, exit 129 (the race
// TestHangupStormThroughStop caught once in CI). Only a file-mode
// sidecar reloads on SIGHUP (sidecar.go).
func ignoreHangup(log zerolog.Logger, why string) (stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-done:
				return
			case <-hup:
				log.Warn().Msg("SIGHUP ignored: " + why)
			}
		}
	})
	return func() { close(done); wg.Wait() } // hup stays notified: Notify drops what its full buffer cannot take
}
