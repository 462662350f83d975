package main

import (
	"context"
	"time"

	"github.com/portcullis/portcullis/alert"
)

// rotationEvery is how often the collector fires the key_rotation
// warnings that came due: a key nobody uses sends no records to fire them.
const rotationEvery = time.Minute

// tickRotation runs eng.Tick until ctx ends (issue 20).
func tickRotation(ctx context.Context, eng *alert.Engine) {
	t := time.NewTicker(rotationEvery)
	defer t.Stop()
	eng.Tick(time.Now())
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			eng.Tick(now)
		}
	}
}
