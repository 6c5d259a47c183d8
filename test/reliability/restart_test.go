package reliability

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
)

// v2ShimRetryBudget is how long containerd's own v2-shim publisher retries
// before it drops an event; the outage here lasts longer.
const v2ShimRetryBudget = 15 * time.Second

// Property 1: processes exit while containerd is down for longer than the
// v2-shim retry budget. The shims keep running, containerd reconnects to
// them after its restart, and every TaskExit is delivered once the daemon is
// back: each shim's in exit order, all with exit times in the order the
// exits happened.
func TestDaemonRestart(t *testing.T) {
	s := newSuite(t, options{proxy: true})
	ctx := s.ctx()

	// Exits are scheduled against a common time so that they all happen
	// during the outage, two seconds apart, alternating between exec
	// processes of one container and the init processes of others.
	firstExit := time.Now().Add(15 * time.Second)
	sleepUntil := func(offset time.Duration) string {
		return fmt.Sprintf("sleep %d", int(time.Until(firstExit.Add(offset)).Round(time.Second)/time.Second))
	}
	type proc struct {
		key    string
		status uint32
		offset time.Duration
	}
	var procs []proc
	tasks := map[string]containerd.Task{}
	containers := map[string]containerd.Container{}

	c, task := s.start(ctx, "host", "sleep 1000")
	containers["host"], tasks["host"] = c, task
	spec, err := c.Spec(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"init-b", "init-c", "init-d"} {
		offset := time.Duration(4*i+2) * time.Second
		status := uint32(21 + i)
		c, task := s.start(ctx, id, fmt.Sprintf("%s; exit %d", sleepUntil(offset), status))
		containers[id], tasks[id] = c, task
		procs = append(procs, proc{id + "/" + id, status, offset})
	}
	for i, id := range []string{"exec-1", "exec-2", "exec-3"} {
		offset := time.Duration(4*i) * time.Second
		status := uint32(11 + i)
		pspec := *spec.Process
		pspec.Args = []string{"/bin/sh", "-c", fmt.Sprintf("%s; exit %d", sleepUntil(offset), status)}
		p, err := tasks["host"].Exec(ctx, id, &pspec, cio.NullIO)
		if err != nil {
			t.Fatalf("exec %s: %v", id, err)
		}
		if err := p.Start(ctx); err != nil {
			t.Fatalf("start exec %s: %v", id, err)
		}
		procs = append(procs, proc{"host/" + id, status, offset})
	}
	if time.Now().After(firstExit.Add(-time.Second)) {
		t.Fatalf("starting the processes took until %v, past the first scheduled exit", time.Now())
	}
	shims := s.shimPids()
	if len(shims) != 4 {
		t.Fatalf("%d shims running, want 4", len(shims))
	}

	if err := s.d.Stop(); err != nil {
		t.Fatal(err)
	}
	stopped := time.Now()
	restartAt := firstExit.Add(v2ShimRetryBudget + 2*time.Second)
	time.Sleep(time.Until(restartAt))
	for _, pid := range shims {
		if !alive(pid) {
			t.Fatalf("shim %d died during the outage", pid)
		}
	}
	// Hold the shims at the proxies until this test's subscriber is live, so
	// it sees every event the restarted daemon gets.
	s.holdShims()
	if err := s.d.Restart(); err != nil {
		t.Fatal(err)
	}
	outage := time.Since(stopped)
	rec := s.record()
	s.releaseShims()
	wait := time.Minute
	if measuringOnly() {
		wait = 20 * time.Second // what has not come by then will not come
	}
	exits := rec.exits(len(procs), wait)

	want := map[string]uint32{}
	for _, p := range procs {
		want[p.key] = p.status
	}
	got := check(exits, want)
	// The order the exits happened is the schedule's.
	sort.Slice(procs, func(i, j int) bool { return procs[i].offset < procs[j].offset })
	firstSeen := map[string]event{}
	for _, e := range exits {
		if _, ok := firstSeen[e.key()]; !ok {
			firstSeen[e.key()] = e
		}
	}
	var problems []string
	for i := 1; i < len(procs); i++ {
		a, okA := firstSeen[procs[i-1].key]
		b, okB := firstSeen[procs[i].key]
		if okA && okB && !a.ExitedAt.Before(b.ExitedAt) {
			got.Reordered++
			problems = append(problems, fmt.Sprintf("%s (exited %v) is not before %s (exited %v)", a.key(), a.ExitedAt, b.key(), b.ExitedAt))
		}
	}
	got.Reordered += outOfOrder(exits)
	for _, e := range exits {
		// The outage's own bounds, not the schedule's plus a slack: a loaded
		// machine reaps late, and order is checked above.
		if e.ExitedAt.Before(stopped) || e.ExitedAt.After(restartAt) {
			problems = append(problems, fmt.Sprintf("%s exited %v: not during the outage (%v to %v)", e.key(), e.ExitedAt, stopped, restartAt))
		}
	}
	report(t, map[string]interface{}{"outage_seconds": outage.Seconds(), "tally": got})
	if measuringOnly() {
		return
	}
	if got.Lost != 0 || got.Reordered != 0 || got.WrongState != 0 || got.Delivered != len(procs) || len(problems) > 0 {
		t.Fatalf("exits after restart: %+v\n%s", got, strings.Join(problems, "\n"))
	}

	// containerd reconnected to the shims: it knows the exits and deletes.
	for _, id := range []string{"init-b", "init-c", "init-d"} {
		st, err := tasks[id].Status(ctx)
		if err != nil {
			t.Fatalf("status of %s after restart: %v", id, err)
		}
		if st.Status != containerd.Stopped || st.ExitStatus != want[id+"/"+id] {
			t.Fatalf("%s after restart: %+v", id, st)
		}
	}
	if err := tasks["host"].Kill(ctx, 9); err != nil {
		t.Fatalf("kill host after restart: %v", err)
	}
	exitCh, err := tasks["host"].Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	<-exitCh
	for id, task := range tasks {
		if err := remove(ctx, containers[id], task); err != nil {
			t.Fatal(err)
		}
	}
}
