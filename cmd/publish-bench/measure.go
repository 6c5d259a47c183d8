package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/internal/stats"
)

// monotonicNow reads CLOCK_MONOTONIC, which the subscriber process reads too,
// so timestamps taken in the two processes compare directly.
func monotonicNow() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		panic(err) // cannot fail on Linux with a valid clock id
	}
	return ts.Nano()
}

// publisherCPU is the CPU time of this process plus that of its reaped
// children: the fork path's `containerd publish` processes count here, as they
// would for a shim. The subscriber child lives for the whole run, so it is
// reaped (and counted) only after the last measurement.
func publisherCPU() time.Duration {
	var self, children unix.Rusage
	unix.Getrusage(unix.RUSAGE_SELF, &self)
	unix.Getrusage(unix.RUSAGE_CHILDREN, &children)
	return rusageTime(&self) + rusageTime(&children)
}

func rusageTime(r *unix.Rusage) time.Duration {
	return time.Duration(r.Utime.Nano() + r.Stime.Nano())
}

// processCPU returns the CPU time of every thread of pid with nanosecond
// resolution from /proc/<pid>/task/*/schedstat; /proc/<pid>/stat counts in
// 10 ms ticks, too coarse for a few thousand events of ~50 µs each. Threads
// that exit between two readings take their time with them; Go daemons
// rarely end threads, and a negative difference is reported as unknown.
func processCPU(pid int) (time.Duration, error) {
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		return 0, fmt.Errorf("read CPU of pid %d: no /proc/%d/task/*/schedstat", pid, pid)
	}
	var total int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // thread exited meanwhile
		}
		fields := strings.Fields(string(b))
		if len(fields) == 0 {
			continue
		}
		ns, err := strconv.ParseInt(fields[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse %s: %w", f, err)
		}
		total += ns
	}
	return time.Duration(total), nil
}

// cpuMeter takes CPU readings of the publishing side and the daemon around
// one measured phase.
type cpuMeter struct {
	daemonPid int // 0: daemon CPU unknown
}

type cpuReading struct {
	at        int64 // CLOCK_MONOTONIC ns
	publisher time.Duration
	daemon    time.Duration
	daemonOK  bool
}

func (m cpuMeter) read() cpuReading {
	r := cpuReading{at: monotonicNow(), publisher: publisherCPU()}
	if m.daemonPid > 0 {
		d, err := processCPU(m.daemonPid)
		r.daemon, r.daemonOK = d, err == nil
	}
	return r
}

// cpuDelta accumulates CPU over the phases of one (workload, path) pair.
type cpuDelta struct {
	window    time.Duration // wall time the readings spanned
	publisher time.Duration
	daemon    time.Duration
	daemonOK  bool
}

func (d *cpuDelta) add(before, after cpuReading, first bool) {
	d.window += time.Duration(after.at - before.at)
	d.publisher += after.publisher - before.publisher
	ok := before.daemonOK && after.daemonOK && after.daemon >= before.daemon
	if first {
		d.daemonOK = ok
	} else {
		d.daemonOK = d.daemonOK && ok
	}
	if ok {
		d.daemon += after.daemon - before.daemon
	}
}

// LatencyStats summarises a latency sample, in microseconds.
type LatencyStats struct {
	Count int     `json:"count"`
	Mean  float64 `json:"mean_us"`
	P50   float64 `json:"p50_us"`
	P90   float64 `json:"p90_us"`
	P99   float64 `json:"p99_us"`
	Max   float64 `json:"max_us"`
}

func summarize(samples []time.Duration) LatencyStats {
	if len(samples) == 0 {
		return LatencyStats{}
	}
	s := stats.Sorted(samples)
	var sum time.Duration
	for _, v := range s {
		sum += v
	}
	return LatencyStats{
		Count: len(s),
		Mean:  us(sum / time.Duration(len(s))),
		P50:   us(stats.Percentile(s, 0.50)),
		P90:   us(stats.Percentile(s, 0.90)),
		P99:   us(stats.Percentile(s, 0.99)),
		Max:   us(s[len(s)-1]),
	}
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
