package alert

import (
	"fmt"

	"github.com/portcullis/portcullis/collector"
)

// Replay rebuilds the engine's windows, learnt networks, revocations and
// alerts from the stored trail in dir, in storage order, firing nothing:
// what fired before is in the trail as alert events. Call it once, before
// the collector takes traffic.
func (e *Engine) Replay(dir string) error {
	e.mu.Lock()
	e.replaying = true
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.replaying = false
		e.mu.Unlock()
	}()
	err := collector.ScanEntries(dir, func(en *collector.Entry) error {
		e.Observe(en.Records, en.Events)
		return nil
	})
	if err != nil {
		return fmt.Errorf("cannot rebuild detection state from %q: %w", dir, err)
	}
	return nil
}
