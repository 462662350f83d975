package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Holding the PM QoS device writes the 32-bit value 0 and keeps the file
// open until release (the kernel drops the request on close).
func TestHoldIdlePollWritesZero(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "cpu_dma_latency")
	if err := os.WriteFile(dev, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p := holdIdlePoll(dev)
	if p.reason != "" || p.f == nil {
		t.Fatalf("holdIdlePoll(%s) not applied: %q", dev, p.reason)
	}
	p.release()
	if got, _ := os.ReadFile(dev); !bytes.Equal(got, []byte{0, 0, 0, 0}) {
		t.Errorf("wrote %v, want the 32-bit value 0", got)
	}
}

// When the device cannot be held (missing, or not root), the report says
// the setting was not applied and why, instead of claiming it (issue 18).
func TestIdleSettingNotApplied(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-device")
	got := idleSetting(settings{latRate: 1000, idleDevice: missing}, map[string]int64{"haltpoll": 7, "POLL": 0})
	if !strings.Contains(got, "NOT applied (") || !strings.Contains(got, missing) {
		t.Errorf("report line %q: want NOT applied with the reason naming %s", got, missing)
	}
	if !strings.Contains(got, "POLL 0, haltpoll 7") {
		t.Errorf("report line %q: want the idle states entered, POLL 0, haltpoll 7", got)
	}
	dev := filepath.Join(t.TempDir(), "cpu_dma_latency")
	os.WriteFile(dev, nil, 0o600)
	if got := idleSetting(settings{latRate: 1000, idleDevice: dev}, nil); !strings.Contains(got, "held at 0 µs") || strings.Contains(got, "NOT") {
		t.Errorf("report line %q: want the setting named as held at 0 µs", got)
	}
	if got := idleSetting(settings{latRate: 0, idleDevice: dev}, nil); got != "" {
		t.Errorf("no latency windows: report line %q, want none", got)
	}
}

// The idle states entered are read per state name from sysfs and summed
// over the CPUs asked for.
func TestIdleEntries(t *testing.T) {
	sys := t.TempDir()
	for cpu, usage := range map[string][2]string{"cpu0": {"5\n", "100\n"}, "cpu1": {"7\n", "1\n"}, "cpu2": {"1000\n", "1000\n"}} {
		for i, name := range []string{"POLL", "haltpoll"} {
			dir := filepath.Join(sys, cpu, "cpuidle", "state"+string(rune('0'+i)))
			os.MkdirAll(dir, 0o755)
			os.WriteFile(filepath.Join(dir, "name"), []byte(name+"\n"), 0o644)
			os.WriteFile(filepath.Join(dir, "usage"), []byte(usage[i]), 0o644)
		}
	}
	got := idleEntries(sys, 0, 1)
	if got["POLL"] != 12 || got["haltpoll"] != 101 || len(got) != 2 {
		t.Errorf("idleEntries = %v, want POLL 12, haltpoll 101 (cpu2 not asked for)", got)
	}
}

// The report's header names the idle setting of the latency windows and
// both fixed-rate windows, so a reader of the results sees what was set.
func TestReportHeaderNamesIdleSetting(t *testing.T) {
	s := settings{out: t.TempDir(), rate: 2000, latRate: 1000, rateDur: 10e9, rateConns: 16, rounds: 5}
	m := machine{idle: idleNote(true, "", map[string]int64{"POLL": 3, "haltpoll idle": 0})}
	if err := writeReport(s, m, nil); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(s.out, "latest.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"10s per target at 2000 rps (the CPU window) and 10s per target at 1000 rps (the latency window)",
		"`/dev/cpu_dma_latency` held at 0 µs for every target", "POLL 3, haltpoll idle 0"} {
		if !strings.Contains(string(b), want) {
			t.Errorf("report lacks %q:\n%s", want, b)
		}
	}
}
