package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
)

func TestBurstBadOptions(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "-shim is required"},
		{[]string{"-shim", "/nonexistent/shim"}, "-shim: "},
		{[]string{"-shim", "/bin/true", "-execs", "0"}, "-execs must be at least 1"},
		{[]string{"-shim", "/bin/true", "-rounds", "0"}, "-rounds must be at least 1"},
		{[]string{"-shim", "/bin/true", "-timeout", "0s"}, "-timeout must be positive"},
		{[]string{"-shim", "/bin/true", "-procs", "0"}, `-procs: "0" is not a number of Ps`},
		{[]string{"-shim", "/bin/true", "-procs", "1,two"}, `-procs: "two" is not a number of Ps`},
		{[]string{"-shim", "/bin/true", "-procs", "2,2"}, "-procs: 2 given twice"},
		{[]string{"-shim", "/bin/true", "-procs", ","}, "-procs: no setting given"},
		{[]string{"-shim", "/bin/true", "extra"}, `unexpected argument "extra"`},
		{[]string{"-shim", "/bin/true", "-execs", "3", "-kill-init", "-kill-after", "4"}, "-kill-after must be between 0 and -execs (3), not 4"},
		{[]string{"-shim", "/bin/true", "-kill-after", "1"}, "-kill-after needs -kill-init"},
	} {
		_, err := burst(context.Background(), tc.args, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: got %v, want an error with %q", tc.args, err, tc.want)
		}
	}
}

// One P is what ships: the default setting gives the shim no max_procs at
// all, any other its value.
func TestShimSettingLeavesTheDefaultAlone(t *testing.T) {
	if s := shimSetting(1); strings.Contains(s, "max_procs") {
		t.Errorf("one P: config %q sets max_procs", s)
	}
	if s := shimSetting(2); !strings.Contains(s, "[shim]\n  max_procs = 2\n") {
		t.Errorf("two Ps: config %q", s)
	}
}

// A small burst against each setting: every exec exits 0 and its TaskExit
// reaches the subscriber, the figures are ordered, and the shim's CPU and
// its reaped runsc children's are counted.
func TestBurstSmoke(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	bin := buildShim(t)
	jsonFile := filepath.Join(t.TempDir(), "burst.json")
	var stdout bytes.Buffer
	if _, err := burst(context.Background(), []string{"-shim", bin, "-execs", "3", "-rounds", "2", "-quiet", "-json", jsonFile}, &stdout); err != nil {
		t.Fatalf("burst: %v\n%s", err, stdout.String())
	}
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		t.Fatal(err)
	}
	var rep BurstReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Schema != burstSchema || len(rep.Shims) != 2 || rep.Shims[0].MaxProcs != 1 || rep.Shims[1].MaxProcs != 2 {
		t.Fatalf("report %+v: want the schema and max_procs 1 then 2", rep)
	}
	if rep.Shims[0].InitExitLatency != nil || strings.Contains(stdout.String(), "init SIGKILLed") {
		t.Errorf("init figures without -kill-init")
	}
	for _, s := range rep.Shims {
		if s.Execs != 6 || s.Exited != 6 || s.Events != 6 || s.LostExits+s.LostEvents+s.Failed != 0 {
			t.Errorf("max_procs %d: %+v: want 6 execs, exits and events, none lost", s.MaxProcs, s)
		}
		for _, l := range []LatencyStats{s.ExitLatency, s.EventLatency} {
			if l.Count != 6 || !(0 < l.P50 && l.P50 <= l.P90 && l.P90 <= l.Max) {
				t.Errorf("max_procs %d: latency %+v", s.MaxProcs, l)
			}
		}
		if l := s.EventLag; l.Count != 6 || l.P50 > l.P90 || l.P90 > l.Max || l.Max > s.EventLatency.Max {
			t.Errorf("max_procs %d: TaskExit after the exit %+v, from the Exec call %+v", s.MaxProcs, l, s.EventLatency)
		}
		if !(0 < s.BurstMSMedian && s.BurstMSMedian <= s.BurstMSMax) || !(0 < s.ShimCPUMSMedian && s.ShimCPUMSMedian <= s.ShimCPUMSMax) || s.Threads <= 0 {
			t.Errorf("max_procs %d: burst, CPU or threads missing: %+v", s.MaxProcs, s)
		}
	}
	if !strings.Contains(stdout.String(), "[shim] max_procs = 2 over default (one P)") {
		t.Errorf("no comparison on stdout:\n%s", stdout.String())
	}
}

// With -kill-init each burst ends with the container's init SIGKILLed: its
// exit and TaskExit are timed from the Kill call, and the next burst runs
// in a new container (in the killed one its execs would fail the run).
func TestBurstKillInit(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	bin := buildShim(t)
	var stdout bytes.Buffer
	rep, err := burst(context.Background(), []string{"-shim", bin, "-procs", "1", "-execs", "2", "-rounds", "2", "-kill-init", "-quiet"}, &stdout)
	if err != nil {
		t.Fatalf("burst: %v\n%s", err, stdout.String())
	}
	s := rep.Shims[0]
	if !rep.Config.KillInit || s.Exited != 4 || s.Events != 4 {
		t.Fatalf("%+v: want 4 execs exited with their events, kill_init set", s)
	}
	e, ev := s.InitExitLatency, s.InitEventLatency
	if e == nil || ev == nil || e.Count != 2 || ev.Count != 2 || !(0 < e.P50 && e.P50 <= e.Max) || !(0 < ev.P50 && ev.P50 <= ev.Max) {
		t.Errorf("init exit %+v, TaskExit %+v: want 2 of each, timed", e, ev)
	}
	if !strings.Contains(stdout.String(), "init SIGKILLed after the burst's last exit") {
		t.Errorf("no init line on stdout:\n%s", stdout.String())
	}
}

// With -kill-after the init dies while execs still run: those it ends
// are counted apart, not as failures, and every exec is accounted for.
func TestBurstKillInitMidBurst(t *testing.T) {
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	bin := buildShim(t)
	var stdout bytes.Buffer
	rep, err := burst(context.Background(), []string{"-shim", bin, "-procs", "1", "-execs", "6", "-rounds", "2", "-kill-init", "-kill-after", "2", "-quiet"}, &stdout)
	if err != nil {
		t.Fatalf("burst: %v\n%s", err, stdout.String())
	}
	s := rep.Shims[0]
	if rep.Config.KillAfter != 2 || s.Exited < 4 || s.Exited+s.Killed != 12 || s.Failed+s.LostExits+s.LostEvents != 0 || s.Events != s.Exited {
		t.Fatalf("%+v: want at least 2 exits per burst before the kill, the rest exited or ended by it, nothing failed or lost", s)
	}
	if s.InitEventLatency == nil || s.InitEventLatency.Count != 2 {
		t.Errorf("init TaskExit %+v: want one per burst", s.InitEventLatency)
	}
	if !strings.Contains(stdout.String(), "init SIGKILLed after 2 of the burst's exits") {
		t.Errorf("no init line on stdout:\n%s", stdout.String())
	}
}
