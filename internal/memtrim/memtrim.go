// Package memtrim returns a shim's free memory to the OS once it has
// worked and gone quiet.
//
// Why: a shim's Go heap grows with every RPC it serves (an exec probe
// allocates tens of KB), and Go's collector keeps what it frees for reuse
// until the heap is far above its 4 MB minimum goal, so a probed
// container's shim came to hold over 6 MB where an idle one holds 1.4
// (docs/benchmarks.md). Returning memory on a clock, as containerd-shim
// does every 30 s, would wake idle shims for a forced collection each
// time; this returns it only after work, and only once enough was
// allocated to be worth a collection.
package memtrim

import (
	"runtime/debug"
	"runtime/metrics"
	"sync"
	"time"
)

// Quiet is how long the shim must have served nothing before the check:
// long enough for a burst of execs, or Create, Start and the first
// probes, to finish first.
const Quiet = 2 * time.Second

// DefaultThreshold is the allocation that makes a return worth its
// collection (a forced one took about 3 ms of CPU here): some 15 exec
// probes' worth (each left ~33 KB in the heap, docs/benchmarks.md).
const DefaultThreshold = 512 << 10

// allocsMetric counts every byte the heap ever allocated.
const allocsMetric = "/gc/heap/allocs:bytes"

// Trimmer returns free memory to the OS (debug.FreeOSMemory: a collection
// and a scavenge of everything free) when, Quiet after the last Touch,
// the heap has allocated Threshold bytes since the last return. An idle
// shim keeps no timer.
type Trimmer struct {
	threshold uint64
	quiet     time.Duration
	free      func()

	mu       sync.Mutex
	timer    *time.Timer
	returned uint64 // allocsMetric at the last return (or at New)
	sample   []metrics.Sample
}

// New starts counting allocations from now, so that what start-up
// allocated does not trigger a return. A threshold of 0 is
// DefaultThreshold.
func New(threshold uint64) *Trimmer {
	if threshold == 0 {
		threshold = DefaultThreshold
	}
	return newTrimmer(threshold, Quiet, debug.FreeOSMemory)
}

func newTrimmer(threshold uint64, quiet time.Duration, free func()) *Trimmer {
	t := &Trimmer{threshold: threshold, quiet: quiet, free: free,
		sample: []metrics.Sample{{Name: allocsMetric}}}
	t.returned = t.allocated()
	return t
}

// Touch says the shim just worked: the check runs once it has been quiet
// for Quiet. A nil Trimmer never returns memory.
func (t *Trimmer) Touch() {
	if t == nil {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.timer == nil {
		t.timer = time.AfterFunc(t.quiet, t.check)
		return
	}
	t.timer.Reset(t.quiet)
}

func (t *Trimmer) check() {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.allocated()-t.returned < t.threshold {
		return
	}
	t.free()
	t.returned = t.allocated()
}

func (t *Trimmer) allocated() uint64 {
	metrics.Read(t.sample)
	return t.sample[0].Value.Uint64()
}
