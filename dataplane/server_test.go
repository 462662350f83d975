package dataplane

import (
	"context"
	"testing"
	"time"
)

func TestShutdownDrainsInFlight(t *testing.T) {
	st := startStack(t, nil)
	st.up.delay = 300 * time.Millisecond
	done := make(chan reply, 1)
	go func() { done <- do(t, st.addr, "GET", "/v1/users", key(hrisKey), "") }()
	for deadline := time.Now().Add(30 * time.Second); st.up.arrived.Load() == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the request never reached the upstream")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := st.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.status != 200 {
		t.Errorf("in-flight request: got %d, want 200", r.status)
	}
	if st.srv.Ready() {
		t.Error("ready after shutdown")
	}
}
