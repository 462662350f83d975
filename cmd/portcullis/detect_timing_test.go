package main

import (
	"bytes"
	"context"
	"github.com/portcullis/portcullis/policy/etcdadmin"
	"slices"
	"testing"
	"time"

	"github.com/portcullis/portcullis/alert"
)

// BenchmarkDetectToContain measures, on the end-to-end stack of
// TestDetectToContainEndToEnd, the time from the first request of a
// tenant-probing burst to the suspension being enforced on both sidecars
// (issue 14: goal under 2 s beyond the rule's window). The rule's window
// is cut to 2 s so that iterations do not wait a minute for the previous
// burst to leave it; between iterations (timer stopped) the client is
// resumed and the alert closed. It reports p50 and p99 in ms.
func BenchmarkDetectToContain(b *testing.B) {
	s := startDetectStack(b, func(doc []byte) []byte {
		return bytes.Replace(doc, []byte("group_by: client, threshold: 5, window: 10m"), []byte("group_by: client, threshold: 5, window: 2s"), 1)
	})
	ctx := context.Background()
	var took []time.Duration
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		time.Sleep(2500 * time.Millisecond) // the last burst leaves the window
		b.StartTimer()
		start := time.Now()
		s.probe(6)
		s.until("enforcement on both sidecars", s.enforcedEverywhere)
		took = append(took, time.Since(start))
		b.StopTimer()
		s.reset(ctx)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(took[(len(took)*99)/100].Microseconds())/1000, "p99-ms")
}

// reset closes the open alert of the client rule and lifts the suspension,
// waiting until both are in force.
func (s *detectStack) reset(ctx context.Context) {
	var id string
	s.until("the alert in the trail", func() bool {
		for _, a := range s.alerts("tenant-probe") {
			if a.Status != alert.StatusClosed {
				id = a.ID
			}
		}
		return id != ""
	})
	meta := etcdadmin.Meta{Actor: "bench", Reason: "benchmark iteration"}
	if _, err := s.admin.RecordAlertEvent(ctx, alert.ActionClose, id, meta, map[string]string{"corrective_action": "none"}); err != nil {
		s.tb.Fatal(err)
	}
	if err := s.admin.Resume(ctx, "acme-hris", meta); err != nil {
		s.tb.Fatal(err)
	}
	s.until("the closure in the trail", func() bool {
		for _, a := range s.alerts("tenant-probe") {
			if a.ID == id {
				return a.Status == alert.StatusClosed
			}
		}
		return false
	})
	s.until("the suspension lifted on both sidecars", func() bool {
		for _, sc := range s.sidecars {
			if status("http://"+sc+"/v1/users", hrisKey) == 403 {
				return false
			}
		}
		return true
	})
}
