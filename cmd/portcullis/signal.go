package main

import (
	"context"
	"os/signal"
	"syscall"

	"github.com/rs/zerolog"
)

// runUntilSignal runs a long-running command until SIGTERM or SIGINT ends
// its context, and returns its exit code: 0 when run returns nil, else 1,
// with the error logged under msg.
func runUntilSignal(log zerolog.Logger, msg string, run func(context.Context) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := run(ctx); err != nil {
		log.Error().Err(err).Msg(msg)
		return 1
	}
	return 0
}
