package memtrim

import (
	"runtime/metrics"
	"sync/atomic"
	"testing"
	"time"
)

// sink keeps allocations from being optimized away.
var sink [][]byte

func allocate(n int) {
	for i := 0; i < n/1024; i++ {
		sink = append(sink, make([]byte, 1024))
	}
	sink = nil
}

func counting() (*atomic.Int32, func()) {
	var n atomic.Int32
	return &n, func() { n.Add(1) }
}

// Work past the threshold is returned once the shim has been quiet, and
// only once: without more allocation the next quiet spell returns nothing.
func TestReturnsAfterWorkOnceQuiet(t *testing.T) {
	returns, free := counting()
	tr := newTrimmer(256<<10, 50*time.Millisecond, free)
	allocate(512 << 10)
	tr.Touch()
	if returns.Load() != 0 {
		t.Fatal("returned before the quiet period")
	}
	time.Sleep(300 * time.Millisecond)
	if got := returns.Load(); got != 1 {
		t.Fatalf("%d returns after the quiet period, want 1", got)
	}
	tr.Touch()
	time.Sleep(300 * time.Millisecond)
	if got := returns.Load(); got != 1 {
		t.Fatalf("%d returns after a quiet spell with nothing allocated, want still 1", got)
	}
}

// Below the threshold nothing is returned: a collection would cost more
// than it gives back.
func TestBelowThresholdReturnsNothing(t *testing.T) {
	returns, free := counting()
	tr := newTrimmer(64<<20, 20*time.Millisecond, free)
	allocate(256 << 10)
	tr.Touch()
	time.Sleep(200 * time.Millisecond)
	if got := returns.Load(); got != 0 {
		t.Fatalf("%d returns below the threshold, want 0", got)
	}
}

// While the shim keeps working the check waits: each Touch restarts the
// quiet period.
func TestWorkPostponesTheReturn(t *testing.T) {
	returns, free := counting()
	tr := newTrimmer(64<<10, 100*time.Millisecond, free)
	allocate(256 << 10)
	for i := 0; i < 10; i++ {
		tr.Touch()
		time.Sleep(20 * time.Millisecond)
	}
	if got := returns.Load(); got != 0 {
		t.Fatalf("%d returns while touched every 20 ms (quiet 100 ms), want 0", got)
	}
	time.Sleep(500 * time.Millisecond)
	if got := returns.Load(); got != 1 {
		t.Fatalf("%d returns once quiet, want 1", got)
	}
}

// Allocations before New (a shim's start-up) do not count, and an idle
// Trimmer keeps no timer.
func TestStartUpDoesNotCount(t *testing.T) {
	allocate(1 << 20)
	returns, free := counting()
	tr := newTrimmer(512<<10, 20*time.Millisecond, free)
	if tr.timer != nil {
		t.Fatal("a timer before any Touch: an idle shim would wake")
	}
	tr.Touch()
	time.Sleep(200 * time.Millisecond)
	if got := returns.Load(); got != 0 {
		t.Fatalf("%d returns for allocations made before New, want 0", got)
	}
}

func TestNilTrimmerDoesNothing(t *testing.T) {
	var tr *Trimmer
	tr.Touch()
}

// The real return gives the freed heap back to the OS.
func TestNewReturnsFreedHeapToTheOS(t *testing.T) {
	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	tr := New(1 << 20)
	tr.quiet = 20 * time.Millisecond
	allocate(16 << 20)
	metrics.Read(released)
	before := released[0].Value.Uint64()
	tr.Touch()
	time.Sleep(500 * time.Millisecond)
	metrics.Read(released)
	if after := released[0].Value.Uint64(); after < before+8<<20 {
		t.Fatalf("heap released to the OS %d -> %d bytes after 16 MiB of garbage, want 8 MiB more at least", before, after)
	}
}
