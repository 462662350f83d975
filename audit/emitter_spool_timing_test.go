package audit

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// deadCollector returns the URL of a loopback port nothing listens on: every
// attempt is refused at once, as when the collector's pod is gone.
func deadCollector(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// spoolingEmitter starts an Emitter with the sidecar's defaults (512-record
// batches, 4096 slots) to a dead collector and waits until it spools: the
// first batch's retry budget (2 s) is spent and new batches go to disk;
// then until the slots are drained.
func spoolingEmitter(b *testing.B) *Emitter {
	b.Helper()
	e, err := NewEmitter(EmitterConfig{URL: deadCollector(b), SpoolDir: b.TempDir(), SpoolMaxBytes: 8 << 30,
		Service: "svc", Host: "h", InstanceID: "i"})
	if err != nil {
		b.Fatal(err)
	}
	r := sampleRecord(1)
	for e.Stats().Spooled < 20*512 {
		if !e.Emit(&r) {
			time.Sleep(time.Millisecond)
		}
	}
	for e.q.len() > 0 { // the timed part starts with the slots drained
		time.Sleep(time.Millisecond)
	}
	return e
}

// commitDisk stands in for a disk slower to make data durable than the test
// machine's (about 1 ms an fsync): a network volume whose cache flush takes
// lat. It is a model, since no such disk runs here: every fsync first
// does its real work, then waits for the next commit of the device, as an
// fsync on ext4 waits for a jbd2 commit: commits follow one another, each
// lat long, and one covers every fsync that arrived before it started.
type commitDisk struct {
	lat time.Duration

	mu      sync.Mutex // guards the following fields
	next    chan struct{}
	running bool
}

// sync waits for the commit that covers an fsync arriving now.
func (d *commitDisk) sync() {
	d.mu.Lock()
	if d.next == nil {
		d.next = make(chan struct{})
	}
	ch := d.next
	if !d.running {
		d.running = true
		go d.commit()
	}
	d.mu.Unlock()
	<-ch
}

func (d *commitDisk) commit() {
	for {
		d.mu.Lock()
		ch := d.next
		d.next = nil
		if ch == nil {
			d.running = false
			d.mu.Unlock()
			return
		}
		d.mu.Unlock()
		time.Sleep(d.lat)
		close(ch)
	}
}

// BenchmarkEmitterSpool drives an Emitter whose collector is down, so
// every batch goes to the spool, as the sidecar's does through an
// outage, on the test machine's disk ("disk=local") and on commitDisk
// with 25 ms commits ("disk=25ms"). "max" emits as fast as the slots take
// records (waiting when they are full): records/s is what the spool
// sustains. "11k" emits at 11,000 records a second, the rate at which a
// fault drill lost 10-25% of the records, and "40k" at about what one
// proxy core serves (docs/performance.md): dropped_% is the share Emit
// refused. Run it with -benchtime Nx (N records).
func BenchmarkEmitterSpool(b *testing.B) {
	for _, lat := range []time.Duration{0, 25 * time.Millisecond} {
		name := "disk=local"
		if lat > 0 {
			name = "disk=" + lat.String()
		}
		b.Run(name, func(b *testing.B) {
			if lat > 0 {
				disk := &commitDisk{lat: lat}
				fsync = func(fd int) error {
					err := unix.Fsync(fd)
					disk.sync()
					return err
				}
				defer func() { fsync = unix.Fsync }()
			}
			benchmarkEmitterSpool(b)
		})
	}
}

func benchmarkEmitterSpool(b *testing.B) {
	b.Run("max", func(b *testing.B) {
		e := spoolingEmitter(b)
		defer e.Close()
		r := sampleRecord(2)
		b.ReportAllocs()
		b.ResetTimer()
		waits := 0
		for range b.N {
			for !e.Emit(&r) {
				waits++
				runtime.Gosched()
			}
		}
		b.StopTimer()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "records/s")
		b.ReportMetric(float64(waits)/float64(b.N), "full/op")
	})
	for _, rate := range []int{11000, 40000} {
		b.Run(strconv.Itoa(rate/1000)+"k", func(b *testing.B) {
			e := spoolingEmitter(b)
			defer e.Close()
			before := e.Stats().DroppedFull
			r := sampleRecord(3)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for sent := 0; sent < b.N; {
				due := min(int(time.Since(start).Seconds()*float64(rate)), b.N)
				for ; sent < due; sent++ {
					e.Emit(&r)
				}
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			dropped := e.Stats().DroppedFull - before
			b.ReportMetric(100*float64(dropped)/float64(b.N), "dropped_%")
		})
	}
}

// BenchmarkFileToken is the replay token of a spooled batch, taken at
// every replay's read (fileToken).
func BenchmarkFileToken(b *testing.B) {
	info, err := os.Stat(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	name := "00000000000000000007-00050.otlp"
	b.ReportAllocs()
	var sink uint64
	for range b.N {
		sink += fileToken(name, info)
	}
	if sink == 0 {
		b.Fatal("no token")
	}
}
