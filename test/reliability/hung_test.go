package reliability

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
)

// shimClient talks to a container's shim directly, as containerd does, from
// the address the v1 runtime keeps in the bundle.
// The connection closes when t ends.
func (s *suite) shimClient(t testing.TB, name string) shimapi.ShimService {
	t.Helper()
	conn, err := net.Dial("unix", s.shimSocket(name))
	if err != nil {
		t.Fatalf("dial shim of %s: %v", name, err)
	}
	client := ttrpc.NewClient(conn)
	t.Cleanup(func() { client.Close() })
	return shimapi.NewShimClient(client)
}

// rss returns a process's resident set in KiB.
func rss(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return -1
}

// Property 4: a daemon frozen with SIGSTOP, and a subscriber that never
// reads, must not block the shim's RPCs nor grow its memory; everything is
// delivered once the daemon resumes.
func TestDaemonHung(t *testing.T) {
	onlyModes(t, "auto", "exec")
	s := newSuite(t, options{})
	rec := s.record()
	ctx := s.ctx()
	// A subscriber that never reads its stream.
	stalled, cancelStalled := context.WithCancel(context.Background())
	defer cancelStalled()
	s.client.EventService().Subscribe(stalled)

	hostC, host := s.start(ctx, "host", "sleep 1000")
	exiterC, exiter := s.start(ctx, "exiter", "sleep 3; exit 5")
	hostShim, exiterShim := s.shimClient(t, "host"), s.shimClient(t, "exiter")
	rssBefore := map[int]int{}
	for _, pid := range s.shimPids() {
		rssBefore[pid] = rss(pid)
	}

	if err := s.d.Pause(); err != nil {
		t.Fatal(err)
	}
	paused := time.Now()
	resumed := false
	defer func() {
		if !resumed {
			s.d.Resume()
		}
	}()

	// While containerd is frozen the exiter exits: its TaskExit waits in the
	// shim, and the shim still answers.
	rpc := func(name string, call func(context.Context) error) {
		t.Helper()
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if err := call(ctx); err != nil {
			t.Fatalf("%s while the daemon is frozen: %v", name, err)
		}
	}
	rpc("Wait", func(ctx context.Context) error {
		r, err := exiterShim.Wait(ctx, &shimapi.WaitRequest{ID: s.cid("exiter")})
		if err == nil && r.ExitStatus != 5 {
			t.Errorf("Wait: status %d, want 5", r.ExitStatus)
		}
		return err
	})
	rpc("State", func(ctx context.Context) error {
		r, err := exiterShim.State(ctx, &shimapi.StateRequest{ID: s.cid("exiter")})
		if err == nil && (r.Status.String() != "STOPPED" || r.ExitStatus != 5) {
			t.Errorf("State: %v exit %d, want stopped exit 5", r.Status, r.ExitStatus)
		}
		return err
	})
	rpc("Kill", func(ctx context.Context) error {
		_, err := hostShim.Kill(ctx, &shimapi.KillRequest{ID: s.cid("host"), Signal: 9})
		return err
	})
	rpc("Wait after Kill", func(ctx context.Context) error {
		_, err := hostShim.Wait(ctx, &shimapi.WaitRequest{ID: s.cid("host")})
		return err
	})
	rpc("State of unknown exec", func(ctx context.Context) error {
		_, err := hostShim.State(ctx, &shimapi.StateRequest{ID: "nope"})
		if !errdefs.IsNotFound(errdefs.FromGRPC(err)) {
			t.Errorf("State of unknown exec id: %v, want NotFound", err)
		}
		return nil
	})
	time.Sleep(time.Until(paused.Add(10 * time.Second)))
	rssDuring := map[int]int{}
	for pid, before := range rssBefore {
		rssDuring[pid] = rss(pid)
		// The shim holds two events here; its queue is bounded anyway
		// (publisher tests); a leak per retry would show as growth.
		if grew := rssDuring[pid] - before; grew > 16<<10 {
			t.Errorf("shim %d grew by %d KiB while the daemon was frozen", pid, grew)
		}
	}
	if got := filter(rec.snapshot(), "/tasks/exit"); len(got) != 0 {
		t.Fatalf("events delivered by a frozen daemon: %+v", got)
	}

	if err := s.d.Resume(); err != nil {
		t.Fatal(err)
	}
	resumed = true
	frozen := time.Since(paused)
	exits := rec.exits(2, time.Minute)
	want := map[string]uint32{"exiter/exiter": 5, "host/host": 137}
	got := check(exits, want)
	report(t, map[string]interface{}{"frozen_seconds": frozen.Seconds(), "tally": got, "rss_kib_before": rssBefore, "rss_kib_frozen": rssDuring})
	if got.Lost != 0 || got.WrongState != 0 || got.Delivered != 2 {
		t.Fatalf("after resume: %+v", got)
	}
	// The events in flight when the daemon froze were awaited, not re-sent,
	// and the shims said the daemon was slow.
	if got.Duplicated != 0 {
		t.Fatalf("%d duplicates after the freeze", got.Duplicated)
	}
	if modeName() != "exec" && s.logLine("containerd is slow to take events") == "" {
		t.Fatal("no shim reported the stall")
	}
	if err := remove(ctx, exiterC, exiter); err != nil {
		t.Fatal(err)
	}
	if err := remove(ctx, hostC, host); err != nil {
		t.Fatal(err)
	}
}
