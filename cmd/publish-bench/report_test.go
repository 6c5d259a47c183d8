package main

import (
	"math"
	"reflect"
	"testing"
	"time"
)

func TestSummarizeUsesNearestRank(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		samples = append(samples, time.Duration(i)*time.Microsecond)
	}
	got := summarize(samples)
	want := LatencyStats{Count: 100, Mean: 50.5, P50: 50, P90: 90, P99: 99, Max: 100}
	if got != want {
		t.Errorf("summarize = %+v, want %+v", got, want)
	}
	if got := summarize(nil); got != (LatencyStats{}) {
		t.Errorf("summarize(nil) = %+v, want zero", got)
	}
}

func TestShareSplitsEveryEventOnce(t *testing.T) {
	for _, c := range []struct{ n, parts int }{{10, 3}, {3000, 6}, {7, 7}, {5, 1}} {
		sum, lo, hi := 0, c.n, 0
		for i := 0; i < c.parts; i++ {
			s := share(c.n, c.parts, i)
			sum += s
			lo, hi = min(lo, s), max(hi, s)
		}
		if sum != c.n || hi-lo > 1 {
			t.Errorf("share(%d, %d): sum %d, sizes %d..%d", c.n, c.parts, sum, lo, hi)
		}
	}
}

func TestTargetsAndRatiosFromFigures(t *testing.T) {
	daemon := func(v float64) *float64 { return &v }
	results := []Result{
		{Workload: workloadSequential, Path: pathFork, Received: 10, Latency: LatencyStats{P50: 20000}, CPUPerEvent: 20000, DaemonCPUPerEvt: daemon(1000)},
		{Workload: workloadSequential, Path: pathTTRPC, Received: 10, Latency: LatencyStats{P50: 100}, CPUPerEvent: 250, DaemonCPUPerEvt: daemon(150)},
		{Workload: workloadSequential, Path: pathFloor, Received: 10, Latency: LatencyStats{P50: 80}, CPUPerEvent: 200, DaemonCPUPerEvt: daemon(140)},
		{Workload: workloadSequential, Path: pathGRPC, Received: 10, Latency: LatencyStats{P50: 112}, CPUPerEvent: 400, DaemonCPUPerEvt: daemon(200)},
		{Workload: workloadStream, Path: pathTTRPC, Received: 10, EventsPerSec: 12000, OutOfOrder: 1},
		{Workload: workloadStream, Path: pathFloor, Received: 10, EventsPerSec: 6000},
	}
	for i := range results {
		if ref := find(results, results[i].Workload, pathFork); ref != nil && results[i].Path != pathFork {
			results[i].VsFork = ratios(&results[i], ref)
		}
	}
	if r := results[1].VsFork; r == nil || r.LatencyP50 != 0.005 || r.PublisherCPU != 0.0125 || *r.DaemonCPU != 0.15 {
		t.Errorf("ttrpc vs fork = %+v, want this/fork figures", r)
	}
	want := map[string]struct {
		value float64
		met   bool
	}{
		"ttrpc_latency_p50_vs_floor_x":          {1.25, false},
		"grpc_latency_p50_vs_floor_x":           {1.4, true},
		"ttrpc_cpu_per_event_lower_than_fork_x": {80, false},
		// A reordered stream does not count, however fast.
		"ttrpc_ordered_stream_vs_floor_x": {0, false},
	}
	targets := checkTargets(results)
	if len(targets) != len(want) {
		t.Fatalf("targets %+v, want %d", targets, len(want))
	}
	for _, tg := range targets {
		w, ok := want[tg.Name]
		if !ok || math.Abs(tg.Value-w.value) > 1e-9 || tg.Met != w.met {
			t.Errorf("target %s = %v (met %v), want %v (met %v)", tg.Name, tg.Value, tg.Met, w.value, w.met)
		}
	}

	c := projectCluster(results, 10)
	if c == nil || c.FromWorkload != workloadSequential {
		t.Fatalf("projection %+v: want it from the sequential figures (no churn ran)", c)
	}
	// fork: (20000+1000) µs × 10/s × 3600 s = 756 CPU-s per hour.
	if got := c.CPUSecondsPerHour[pathFork]; math.Abs(got-756) > 1e-9 {
		t.Errorf("fork CPU-s/hour = %v, want 756", got)
	}
	if got := c.SavedVsFork[pathTTRPC]; math.Abs(got-(756-14.4)) > 1e-9 {
		t.Errorf("ttrpc saves %v CPU-s/hour, want %v", got, 756-14.4)
	}
}

// The targets read against the floor of the same run: a ttrpc path within
// 1.1× of it, gRPC within 1.5×, an ordered stream at 0.95× of its rate, and
// CPU per event 200× below fork's.
func TestTargetsMetAgainstFloor(t *testing.T) {
	results := []Result{
		{Workload: workloadSequential, Path: pathFork, Received: 10, Latency: LatencyStats{P50: 18000}, CPUPerEvent: 21000},
		{Workload: workloadSequential, Path: pathTTRPC, Received: 10, Latency: LatencyStats{P50: 210}, CPUPerEvent: 90},
		{Workload: workloadSequential, Path: pathGRPC, Received: 10, Latency: LatencyStats{P50: 300}, CPUPerEvent: 160},
		{Workload: workloadSequential, Path: pathFloor, Received: 10, Latency: LatencyStats{P50: 200}, CPUPerEvent: 85},
		{Workload: workloadStream, Path: pathTTRPC, Received: 10, EventsPerSec: 5700},
		{Workload: workloadStream, Path: pathFloor, Received: 10, EventsPerSec: 6000},
	}
	for _, tg := range checkTargets(results) {
		if !tg.Met {
			t.Errorf("target %s = %v %s %v: want met", tg.Name, tg.Value, tg.Op, tg.Threshold)
		}
	}
	// Without the floor only the fork ratio can be checked.
	targets := checkTargets([]Result{results[0], results[1], results[4]})
	if len(targets) != 1 || targets[0].Name != "ttrpc_cpu_per_event_lower_than_fork_x" {
		t.Fatalf("targets without a floor: %+v, want only the CPU ratio to fork", targets)
	}
}

func TestFootprintTargets(t *testing.T) {
	ours := ShimPrint{Containers: 20, USSKiB: 1100, PSSKiB: 2100, StartP50MS: 4}
	ref := ShimPrint{Containers: 20, USSKiB: 1200, PSSKiB: 2000, StartP50MS: 5}
	want := []Target{
		{Name: "uss_vs_containerd_shim_x", Value: 1100.0 / 1200, Op: "<=", Threshold: 1, Met: true},
		{Name: "pss_vs_containerd_shim_x", Value: 2100.0 / 2000, Op: "<=", Threshold: 1, Met: false},
		{Name: "start_to_serving_p50_vs_containerd_shim_x", Value: 0.8, Op: "<=", Threshold: 1, Met: true},
	}
	if got := footprintTargets(ours, ref); !reflect.DeepEqual(got, want) {
		t.Errorf("targets\n got %+v\nwant %+v", got, want)
	}
	// Without container figures there is nothing to say about memory.
	ours.ContainerError = "runsc: not found"
	if got := footprintTargets(ours, ref); len(got) != 1 || got[0].Name != "start_to_serving_p50_vs_containerd_shim_x" {
		t.Errorf("targets without containers: %+v", got)
	}
}
