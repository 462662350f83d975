package dataplane

import "time"

// keyClock is the time, in unix nanoseconds, API key ages are judged by
// (issue 20): the time the request is judged at (its arrival, or the end
// of its last wait, exchange.at), which the request path has read already,
// unless Config.KeyClock replaces it. A key past the policy's
// max_key_age is refused by this clock on every request, so every sidecar
// refuses it from the instant it crosses the age, without waiting for a new
// snapshot: Compile stored the instant with the key (policy.Key.AgeLimit),
// and the check is one comparison. The test for Config.KeyClock is
// inlined into the callers (issue 18: BenchmarkDecide).
func (s *Server) keyClock(x *exchange) int64 {
	if s.cfg.KeyClock == nil {
		return x.at
	}
	return s.keyClockNow()
}

// keyClockNow reads Config.KeyClock.
func (s *Server) keyClockNow() int64 {
	return s.cfg.KeyClock().UnixNano()
}

// keyAges counts the keys of the policy in force by age at the key clock:
// inside the rotation warning, and past max_key_age.
func (s *Server) keyAges() (due, over int) {
	snap := s.store.Load()
	if snap == nil {
		return 0, 0
	}
	now := time.Now()
	if s.cfg.KeyClock != nil {
		now = s.cfg.KeyClock()
	}
	return snap.KeyAges(now.UnixNano())
}

// keyAgeFamilies are the lifecycle gauges: the warning before a key is
// refused (portcullis_keys_rotation_due), and the keys refused by age.
func (s *Server) keyAgeFamilies() []Family {
	return []Family{
		Gauge("portcullis_keys_rotation_due", "API keys within lifecycle.rotation_warning of lifecycle.max_key_age: rotate them before they are refused.", func() float64 {
			due, _ := s.keyAges()
			return float64(due)
		}),
		Gauge("portcullis_keys_expired_by_policy", "API keys past lifecycle.max_key_age, refused with 401 key_expired_by_policy.", func() float64 {
			_, over := s.keyAges()
			return float64(over)
		}),
	}
}
