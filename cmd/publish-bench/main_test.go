package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/sys/reaper"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
)

func TestMain(m *testing.M) {
	// The tool re-executes itself as the subscriber; under test, itself is
	// this test binary.
	runSubscriberIfChild()
	os.Exit(m.Run())
}

// jsonResult mirrors the documented JSON field names, so renaming a field
// breaks this test rather than the people who parse the file.
type jsonResult struct {
	Workload      string  `json:"workload"`
	Path          string  `json:"path"`
	Published     int     `json:"published"`
	Received      int     `json:"received"`
	Lost          int     `json:"lost"`
	Unsent        int     `json:"unsent"`
	OutOfOrder    int     `json:"out_of_order"`
	Duplicates    int     `json:"duplicates"`
	PublishErrors int     `json:"publish_errors"`
	FirstError    string  `json:"first_error"`
	EventsPerSec  float64 `json:"events_per_sec"`
	CPU           float64 `json:"publisher_cpu_us_per_event"`
	DaemonCPU     *float64
	Latency       struct {
		Count int     `json:"count"`
		P50   float64 `json:"p50_us"`
		P90   float64 `json:"p90_us"`
		P99   float64 `json:"p99_us"`
		Max   float64 `json:"max_us"`
	} `json:"latency"`
	AckLatency *struct {
		Count int     `json:"count"`
		P50   float64 `json:"p50_us"`
	} `json:"ack_latency"`
	VsFork  map[string]any `json:"vs_fork"`
	VsFloor map[string]any `json:"vs_floor"`
}

func (r *jsonResult) UnmarshalJSON(b []byte) error {
	type plain jsonResult
	var aux struct {
		plain
		DaemonCPU *float64 `json:"daemon_cpu_us_per_event"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*r = jsonResult(aux.plain)
	r.DaemonCPU = aux.DaemonCPU
	return nil
}

// TestSmokeAllPaths runs every path through every workload against a
// throwaway containerd and checks that each event published was received
// once and in order, and that every figure is there and sane.
func TestSmokeAllPaths(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd")
	dir := t.TempDir()
	jsonFile, chartFile := filepath.Join(dir, "bench.json"), filepath.Join(dir, "bench.svg")
	const events, containers, probes = 300, 30, 2
	var stdout bytes.Buffer
	_, err := run(context.Background(), []string{
		"-events", "300", "-rounds", "3", "-churn-containers", "30", "-churn-rate", "100",
		"-churn-probes", "2", "-json", jsonFile, "-chart", chartFile, "-quiet",
	}, &stdout)
	if err != nil {
		t.Fatalf("run: %v", err)
	}

	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Schema  string       `json:"schema"`
		Results []jsonResult `json:"results"`
		Targets []struct {
			Name string  `json:"name"`
			Op   string  `json:"op"`
			Met  bool    `json:"met"`
			Val  float64 `json:"value"`
		} `json:"targets"`
		Cluster *struct {
			CPUSecondsPerHour map[string]float64 `json:"cpu_seconds_per_hour"`
		} `json:"cluster"`
		Config struct {
			EmbeddedDaemon bool `json:"embedded_daemon"`
			DaemonPid      int  `json:"daemon_pid"`
		} `json:"config"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("parse %s: %v", jsonFile, err)
	}
	if rep.Schema != schemaVersion {
		t.Errorf("schema %q, want %q", rep.Schema, schemaVersion)
	}
	if !rep.Config.EmbeddedDaemon || rep.Config.DaemonPid == 0 {
		t.Errorf("config %+v: want the embedded daemon with its pid", rep.Config)
	}
	want := map[string]int{workloadSequential: events, workloadStream: events, workloadChurn: containers * (probes + 1)}
	seen := map[string]bool{}
	for _, r := range rep.Results {
		key := r.Workload + "/" + r.Path
		seen[key] = true
		if r.Published != want[r.Workload] || r.Received != r.Published || r.Lost != 0 || r.Unsent != 0 {
			t.Errorf("%s: published %d received %d lost %d unsent %d, want %d all received",
				key, r.Published, r.Received, r.Lost, r.Unsent, want[r.Workload])
		}
		if r.OutOfOrder != 0 || r.Duplicates != 0 || r.PublishErrors != 0 {
			t.Errorf("%s: %d out of order, %d duplicates, %d errors (%s)", key, r.OutOfOrder, r.Duplicates, r.PublishErrors, r.FirstError)
		}
		l := r.Latency
		if l.Count != r.Received || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.Max) {
			t.Errorf("%s: latency %+v is not a distribution of %d events", key, l, r.Received)
		}
		if r.EventsPerSec <= 0 || r.CPU <= 0 || r.DaemonCPU == nil || *r.DaemonCPU <= 0 {
			t.Errorf("%s: events/s %v, cpu %v µs, daemon cpu %v: want all positive", key, r.EventsPerSec, r.CPU, r.DaemonCPU)
		}
		if a := r.AckLatency; (r.Workload == workloadSequential) != (a != nil) || a != nil && (a.Count != r.Received || a.P50 <= 0) {
			t.Errorf("%s: ack latency %+v, want one per event on the sequential workload only", key, a)
		}
		if (r.Path == pathFork) != (r.VsFork == nil) || (r.Path == pathFloor) != (r.VsFloor == nil) {
			t.Errorf("%s: ratios vs_fork %v vs_floor %v: want both but against itself", key, r.VsFork, r.VsFloor)
		}
	}
	for _, w := range allWorkloads {
		for _, p := range allPaths {
			if !seen[w+"/"+p] {
				t.Errorf("no result for %s/%s", w, p)
			}
		}
	}
	if c := rep.Cluster; c == nil || len(c.CPUSecondsPerHour) != len(allPaths) || c.CPUSecondsPerHour[pathFork] <= 0 {
		t.Errorf("cluster projection %+v: want a figure per path", rep.Cluster)
	}
	if len(rep.Targets) != 4 {
		t.Errorf("%d targets checked, want 4: %+v", len(rep.Targets), rep.Targets)
	}

	table := stdout.String()
	for _, p := range allPaths {
		if !strings.Contains(table, "\n"+strings.Repeat(" ", 7-len(p))+p+" ") {
			t.Errorf("table has no row for %s:\n%s", p, table)
		}
	}
	svg, err := os.ReadFile(chartFile)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(svg, []byte("<svg")) || !bytes.Contains(svg, []byte("ttrpc p50")) {
		t.Errorf("chart %s is not an SVG with the paths' legend", chartFile)
	}
}

func TestDeadAddressFailsClearly(t *testing.T) {
	dir := t.TempDir()
	absent := filepath.Join(dir, "absent.sock")
	_, err := run(context.Background(), []string{"-address", absent, "-paths", "ttrpc", "-quiet"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "no containerd socket at "+absent) {
		t.Errorf("absent socket: got %v", err)
	}

	// A socket file nobody listens on, as a crashed daemon leaves.
	stale := filepath.Join(dir, "stale.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: stale, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()
	_, err = run(context.Background(), []string{"-address", stale, "-paths", "ttrpc", "-quiet"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "containerd at "+stale+" does not answer") {
		t.Errorf("stale socket: got %v", err)
	}
}

func TestMissingContainerdBinaryFailsClearly(t *testing.T) {
	_, err := run(context.Background(), []string{"-containerd-binary", "/nonexistent/containerd", "-quiet"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "the fork path needs the containerd binary") {
		t.Errorf("got %v", err)
	}
}

func TestBadOptions(t *testing.T) {
	for _, args := range [][]string{
		{"-paths", "fork,carrier-pigeon"},
		{"-paths", "ttrpc,ttrpc"},
		{"-workloads", "burst"},
		{"-events", "0"},
		{"-rounds", "20", "-events", "10"},
		{"-churn-rate", "0"},
		{"-chart", "latency.jpg"},
		{"stray"},
	} {
		if _, err := parseOptions(args); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}

// buildShim builds the shim as `make build` does. containerdtest.BuildShim
// builds from the current module, which here is this nested one.
func buildShim(t *testing.T) string {
	return makeBinary(t, "build", "SHIM", "gvisor-containerd-shim")
}

// makeBinary runs `make <target> <variable>=<a temp file>` at the
// repository's root and returns the file.
func makeBinary(t *testing.T, target, variable, name string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), name)
	build := exec.Command("make", target, variable+"="+bin)
	build.Dir = "../.."
	var out bytes.Buffer
	build.Stdout, build.Stderr = &out, &out
	// Tests that ran the fork path left this process reaping every child
	// on SIGCHLD, so a plain Wait could lose the race for make's status
	// ("waitid: no child processes"); the reaper's own Start/Wait cannot.
	reaperOnce.Do(containerdtest.ReapChildren)
	ec, err := reaper.Default.Start(build)
	if err != nil {
		t.Fatalf("make %s: %v", target, err)
	}
	if status, err := reaper.Default.Wait(build, ec); err != nil || status != 0 {
		t.Fatalf("make %s: exit %d, %v\n%s", target, status, err, out.String())
	}
	return bin
}

// TestFootprintMeasuresBothShims starts our shim and containerd-shim as
// containerd would and checks that every start was timed to a ShimInfo
// answer and the idle process was measured.
func TestFootprintMeasuresBothShims(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd-shim")
	bin := buildShim(t)
	jsonFile := filepath.Join(t.TempDir(), "footprint.json")
	var stdout bytes.Buffer
	if _, err := footprint([]string{"-shim", bin, "-starts", "3", "-containers", "0", "-json", jsonFile}, &stdout); err != nil {
		t.Fatalf("footprint: %v", err)
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		Shims []struct {
			Name    string  `json:"name"`
			Starts  int     `json:"starts"`
			P50     float64 `json:"start_to_serving_p50_ms"`
			Min     float64 `json:"start_to_serving_min_ms"`
			Max     float64 `json:"start_to_serving_max_ms"`
			RSS     int     `json:"idle_rss_kib"`
			Threads int     `json:"idle_threads"`
		} `json:"shims"`
	}
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Shims) != 2 || rep.Shims[0].Name != "gvisor-containerd-shim" || rep.Shims[1].Name != "containerd-shim" {
		t.Fatalf("shims %+v, want ours then containerd-shim", rep.Shims)
	}
	for _, s := range rep.Shims {
		if s.Starts != 3 || !(0 < s.Min && s.Min <= s.P50 && s.P50 <= s.Max) || s.RSS <= 0 || s.Threads <= 0 {
			t.Errorf("%s: %+v: want 3 timed starts and the idle process's RSS and threads", s.Name, s)
		}
	}
	if !strings.Contains(stdout.String(), "containerd-shim") {
		t.Errorf("no table on stdout:\n%s", stdout.String())
	}
}

func TestFootprintNeedsTheShim(t *testing.T) {
	if _, err := footprint(nil, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-shim is required") {
		t.Errorf("got %v", err)
	}
	if _, err := footprint([]string{"-shim", "/bin/true", "-probes", "-1"}, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-probes") {
		t.Errorf("negative probes: got %v", err)
	}
	missingFloor := []string{"-shim", "/bin/true", "-containerd-shim", "/bin/true", "-floor", "/nonexistent/shim-floor"}
	if _, err := footprint(missingFloor, &bytes.Buffer{}); err == nil || !strings.Contains(err.Error(), "-floor") {
		t.Errorf("a missing floor binary: got %v", err)
	}
}

// With containers running, each shim's memory comes from its own
// smaps: private and proportional memory both below RSS (shared text
// counts in full only there), one shim process per container, and the
// targets compare ours with containerd-shim. The floor runs as many
// processes, without containers, and is placed between the two.
func TestFootprintWithContainers(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "containerd-shim", "runsc", "runc")
	bin := buildShim(t)
	floor := makeBinary(t, "floor", "FLOOR", "shim-floor")
	var stdout bytes.Buffer
	rep, err := footprint([]string{"-shim", bin, "-floor", floor, "-starts", "1", "-containers", "2", "-settle", "1s", "-cpu-window", "2s", "-probes", "2"}, &stdout)
	if err != nil {
		t.Fatalf("footprint: %v", err)
	}
	if len(rep.Shims) != 3 || rep.Shims[2].Name != "floor" || rep.Shims[2].Runtime != "none" {
		t.Fatalf("shims %+v, want ours, containerd-shim and the floor", rep.Shims)
	}
	ours, floorPrint := rep.Shims[0], rep.Shims[2]
	if f := rep.Floor; f == nil || f.OursUSSAboveKiB != ours.USSKiB-floorPrint.USSKiB || f.USSVsContainerdShim <= 0 || f.PSSVsContainerdShim <= 0 {
		t.Errorf("floor comparison %+v for ours %+v, floor %+v", f, ours, floorPrint)
	}
	if !strings.Contains(stdout.String(), "ours above the floor") {
		t.Errorf("no floor lines on stdout:\n%s", stdout.String())
	}
	// After the exec probes, both shims are read again; the floor has no
	// container to probe.
	for _, s := range rep.Shims[:2] {
		if s.USSAfterProbesKiB <= 0 || s.PSSAfterProbesKiB <= 0 || s.ThreadsAfterProbes <= 0 {
			t.Errorf("%s after probes: USS %d, PSS %d KiB, %d threads", s.Name, s.USSAfterProbesKiB, s.PSSAfterProbesKiB, s.ThreadsAfterProbes)
		}
	}
	if floorPrint.USSAfterProbesKiB != 0 || !strings.Contains(stdout.String(), "after 2 exec probes") {
		t.Errorf("floor after probes %d KiB; stdout:\n%s", floorPrint.USSAfterProbesKiB, stdout.String())
	}
	for _, s := range rep.Shims {
		if s.ContainerError != "" {
			t.Fatalf("%s: %s", s.Name, s.ContainerError)
		}
		if s.Containers != 2 || s.USSKiB <= 0 || s.USSKiB >= s.RSSKiB || s.PSSKiB <= 0 || s.PSSKiB >= s.RSSKiB || s.Threads <= 0 {
			t.Errorf("%s: %+v: want 2 shims with 0 < USS, PSS < RSS and threads", s.Name, s)
		}
		if s.IdleCPUMSMedian < 0 || s.IdleCPUMSMax < s.IdleCPUMSMedian || s.IdleCPUMSMax > 2000 {
			t.Errorf("%s: idle CPU median %v ms, max %v ms over a 2 s window", s.Name, s.IdleCPUMSMedian, s.IdleCPUMSMax)
		}
		if s.USSAfterWindowKiB <= 0 || s.USSAfterWindowKiB >= s.RSSKiB || s.PSSAfterWindowKiB <= 0 {
			t.Errorf("%s: after the window USS %d, PSS %d KiB", s.Name, s.USSAfterWindowKiB, s.PSSAfterWindowKiB)
		}
		if s.BinaryBytes <= 0 {
			t.Errorf("%s: binary size %d", s.Name, s.BinaryBytes)
		}
	}
	var names []string
	for _, tg := range rep.Targets {
		names = append(names, tg.Name)
	}
	if want := "uss_vs_containerd_shim_x pss_vs_containerd_shim_x start_to_serving_p50_vs_containerd_shim_x"; strings.Join(names, " ") != want {
		t.Errorf("targets %q, want %q", names, want)
	}
}
