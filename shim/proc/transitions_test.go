package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// transition is one operation of a state machine in one state: with the
// runsc command fail failing (none when ""), the process ends in want,
// and the operation's error is nil or matches errIs. A failed command
// leaves the process where it was: with the failure gone, the same
// operation, retried, ends in retry (unless retry is 0: an exec's failed
// start ends it).
type transition struct {
	from  State
	op    string
	fail  string
	want  State
	errIs func(error) bool
	retry State
}

var (
	isFailedPrecondition = errdefs.IsFailedPrecondition
	isNotFound           = errdefs.IsNotFound
	isInjected           = func(err error) bool { return err != nil }
)

func (tr transition) String() string {
	s := fmt.Sprintf("%s/%s", tr.from, tr.op)
	if tr.fail != "" {
		s += "/runsc_" + tr.fail + "_fails"
	}
	return s
}

// check runs tr.op on a process that machine reached tr.from, and checks
// where it ends.
func (tr transition) check(t *testing.T, f *fakePod, p Process, op func() error) {
	t.Helper()
	if got := status(t, p); got != tr.from {
		t.Fatalf("set up in %s, want %s", got, tr.from)
	}
	if tr.fail != "" {
		f.touch(t, "fail-"+tr.fail, "")
	}
	err := op()
	switch {
	case tr.errIs == nil && err != nil:
		t.Fatalf("error %v, want none", err)
	case tr.errIs != nil && !tr.errIs(err):
		t.Fatalf("error %v, want another", err)
	}
	if got := status(t, p); got != tr.want {
		t.Fatalf("in %s after the operation, want %s", got, tr.want)
	}
	if tr.fail == "" || tr.retry == 0 {
		return
	}
	if err := os.Remove(filepath.Join(f.dir, "fail-"+tr.fail)); err != nil {
		t.Fatal(err)
	}
	if err := op(); err != nil {
		t.Fatalf("retry after the failure: %v", err)
	}
	if got := status(t, p); got != tr.retry {
		t.Fatalf("in %s after the retry, want %s", got, tr.retry)
	}
}

func TestInitTransitions(t *testing.T) {
	all := []string{"start", "pause", "resume", "checkpoint", "kill", "delete", "exit"}
	var trs []transition
	refuse := func(from State, ops ...string) {
		for _, op := range ops {
			trs = append(trs, transition{from: from, op: op, want: from, errIs: isFailedPrecondition})
		}
	}
	trs = append(trs,
		transition{from: Created, op: "start", want: Running},
		transition{from: Created, op: "start", fail: "start", want: Created, errIs: isInjected, retry: Running},
		transition{from: Created, op: "kill", want: Created}, // signal 0 to the sandbox; its exit moves it
		transition{from: Created, op: "delete", want: Deleted},
		transition{from: Created, op: "delete", fail: "delete", want: Created, errIs: isInjected, retry: Deleted},
		transition{from: Created, op: "exit", want: Stopped},
		transition{from: Running, op: "pause", want: Paused},
		transition{from: Running, op: "pause", fail: "pause", want: Running, errIs: isInjected, retry: Paused},
		transition{from: Running, op: "checkpoint", want: Running}, // the exit follows
		transition{from: Running, op: "checkpoint", fail: "checkpoint", want: Running, errIs: isInjected, retry: Running},
		transition{from: Running, op: "kill", want: Running},
		transition{from: Running, op: "kill", fail: "kill", want: Running, errIs: isInjected, retry: Running},
		transition{from: Running, op: "exit", want: Stopped},
		transition{from: Paused, op: "resume", want: Running},
		transition{from: Paused, op: "resume", fail: "resume", want: Paused, errIs: isInjected, retry: Running},
		transition{from: Paused, op: "kill", want: Paused},
		transition{from: Paused, op: "checkpoint", want: Paused},
		transition{from: Paused, op: "exit", want: Stopped},
		transition{from: Stopped, op: "delete", want: Deleted},
		transition{from: Stopped, op: "delete", fail: "delete", want: Stopped, errIs: isInjected, retry: Deleted},
		transition{from: Stopped, op: "kill", want: Stopped, errIs: isNotFound},
		transition{from: Stopped, op: "exit", want: Stopped},
		transition{from: Deleted, op: "exit", want: Deleted},
	)
	refuse(Created, "pause", "resume", "checkpoint")
	refuse(Running, "start", "resume", "delete")
	refuse(Paused, "start", "pause", "delete")
	refuse(Stopped, "start", "pause", "resume", "checkpoint")
	for _, op := range all[:6] {
		trs = append(trs, transition{from: Deleted, op: op, want: Deleted, errIs: isNotFound})
	}
	for _, tr := range trs {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFakePod(t)
			// Created's kill signals the sandbox: here, this test.
			f.touch(t, "sandbox-pid", fmt.Sprint(os.Getpid()))
			p, err := NewInit(ctx, ContainerConfig{ID: "c", Namespace: "ns", Bundle: newBundle(t), Runtime: f.rt})
			if err != nil {
				t.Fatal(err)
			}
			initTo(t, p, tr.from)
			tr.check(t, f, p, func() error { return initOp(ctx, t, p, tr.op) })
		})
	}
}

// initTo drives a created Init to state st.
func initTo(t *testing.T, p *Init, st State) {
	t.Helper()
	ctx := context.Background()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	switch st {
	case Running:
		must(p.Start(ctx))
	case Paused:
		must(p.Start(ctx))
		must(p.Pause(ctx))
	case Stopped:
		must(p.Start(ctx))
		p.SetExited(0)
	case Deleted:
		p.SetExited(0)
		must(p.Delete(ctx))
	}
}

func initOp(ctx context.Context, t *testing.T, p *Init, op string) error {
	switch op {
	case "start":
		return p.Start(ctx)
	case "pause":
		return p.Pause(ctx)
	case "resume":
		return p.Resume(ctx)
	case "checkpoint":
		return p.Checkpoint(ctx, t.TempDir())
	case "kill":
		if status(t, p) == Created {
			return p.Kill(ctx, 0, false)
		}
		return p.Kill(ctx, 15, false)
	case "delete":
		return p.Delete(ctx)
	case "exit":
		p.SetExited(3)
		return nil
	}
	t.Fatalf("unknown operation %s", op)
	return nil
}

// An Init from a checkpoint runs nothing until Start restores it.
func TestInitFromCheckpointTransitions(t *testing.T) {
	for _, tr := range []transition{
		{from: Created, op: "start", want: Running},
		{from: Created, op: "start", fail: "restore", want: Created, errIs: isInjected, retry: Running},
		{from: Created, op: "delete", want: Deleted},
		{from: Created, op: "kill", want: Created, errIs: isFailedPrecondition},
		{from: Created, op: "pause", want: Created, errIs: isFailedPrecondition},
		{from: Created, op: "exit", want: Stopped},
	} {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFakePod(t)
			p, err := NewInit(ctx, ContainerConfig{ID: "c", Namespace: "ns", Bundle: newBundle(t), Runtime: f.rt, Checkpoint: t.TempDir()})
			if err != nil {
				t.Fatal(err)
			}
			tr.check(t, f, p, func() error { return initOp(ctx, t, p, tr.op) })
			if _, err := os.Stat(filepath.Join(f.dir, "calls")); tr.op == "delete" && err == nil {
				t.Errorf("runsc calls %q: a container never restored has nothing in runsc to delete", f.calls(t))
			}
		})
	}
}

func TestAppTransitions(t *testing.T) {
	trs := []transition{
		{from: Created, op: "start", want: Running},
		{from: Created, op: "start", fail: "start", want: Created, errIs: isInjected, retry: Running},
		{from: Created, op: "kill0", want: Created},
		// A signal that ends it removes it from runsc (delete --force).
		{from: Created, op: "kill", want: Stopped},
		{from: Created, op: "kill", fail: "delete", want: Created, errIs: isInjected, retry: Stopped},
		{from: Created, op: "delete", want: Deleted},
		{from: Created, op: "delete", fail: "delete", want: Created, errIs: isInjected, retry: Deleted},
		{from: Created, op: "exit", want: Stopped},
		{from: Running, op: "start", want: Running, errIs: isFailedPrecondition},
		{from: Running, op: "delete", want: Running, errIs: isFailedPrecondition},
		// A kill that works ends it through runsc wait, a moment later:
		// TestAppRunningKillExitsThroughWait.
		{from: Running, op: "kill", fail: "kill", want: Running, errIs: isInjected},
		{from: Running, op: "exit", want: Stopped},
		{from: Stopped, op: "start", want: Stopped, errIs: isFailedPrecondition},
		{from: Stopped, op: "kill", want: Stopped, errIs: isNotFound},
		{from: Stopped, op: "delete", want: Deleted},
		{from: Stopped, op: "delete", fail: "delete", want: Stopped, errIs: isInjected, retry: Deleted},
		{from: Deleted, op: "start", want: Deleted, errIs: isNotFound},
		{from: Deleted, op: "kill", want: Deleted, errIs: isNotFound},
		{from: Deleted, op: "delete", want: Deleted, errIs: isNotFound},
	}
	for _, tr := range trs {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFakePod(t)
			a := f.newApp(t)
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			switch tr.from {
			case Running:
				must(a.Start(ctx))
			case Stopped:
				a.SetExited(0)
			case Deleted:
				must(a.Delete(ctx))
			}
			tr.check(t, f, a, func() error {
				switch tr.op {
				case "start":
					return a.Start(ctx)
				case "kill0":
					return a.Kill(ctx, 0, false)
				case "kill":
					return a.Kill(ctx, 15, false)
				case "delete":
					return a.Delete(ctx)
				case "exit":
					a.SetExited(3)
					return nil
				}
				t.Fatalf("unknown operation %s", tr.op)
				return nil
			})
		})
	}
}

// A running App's kill moves nothing itself: runsc wait reports the exit.
func TestAppRunningKillExitsThroughWait(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	a := f.newApp(t)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Kill(ctx, 15, false); err != nil {
		t.Fatal(err)
	}
	waitExited(t, a)
	if s := status(t, a); s != Stopped || a.ExitStatus() != 143 {
		t.Errorf("after the kill: %s, exit %d; want stopped, 143", s, a.ExitStatus())
	}
}

// runsc says a created app container stopped (its sandbox died): State
// reports it stopped and its exit, and runs no runsc command but state:
// removing it from runsc is Delete's.
func TestAppStateRunsOnlyRunscState(t *testing.T) {
	f := newFakePod(t)
	a := f.newApp(t)
	f.touch(t, "sandbox-gone", "")
	if s := status(t, a); s != Stopped {
		t.Fatalf("status %s, want stopped", s)
	}
	for _, c := range f.calls(t) {
		if cmd := strings.Fields(c)[0]; cmd != "create" && cmd != "state" {
			t.Errorf("State ran runsc %s", c)
		}
	}
	if err := a.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !hasCall(f.calls(t), "delete --force app") {
		t.Errorf("runsc calls %q, want Delete's delete --force", f.calls(t))
	}
}

func TestExecTransitions(t *testing.T) {
	trs := []transition{
		{from: Created, op: "start", want: Running},
		// A failed start ends the exec (its stdio is closed): no retry.
		{from: Created, op: "start", fail: "exec", want: Stopped, errIs: isInjected},
		{from: Created, op: "kill", want: Created, errIs: isFailedPrecondition},
		{from: Created, op: "delete", want: Deleted},
		{from: Created, op: "exit", want: Stopped},
		{from: Running, op: "start", want: Running, errIs: isFailedPrecondition},
		{from: Running, op: "delete", want: Running, errIs: isFailedPrecondition},
		{from: Running, op: "kill", want: Running},
		{from: Running, op: "kill", fail: "kill", want: Running, errIs: isInjected, retry: Running},
		{from: Running, op: "exit", want: Stopped},
		{from: Stopped, op: "start", want: Stopped, errIs: isFailedPrecondition},
		{from: Stopped, op: "kill", want: Stopped, errIs: isNotFound},
		{from: Stopped, op: "delete", want: Deleted},
		{from: Deleted, op: "start", want: Deleted, errIs: isNotFound},
		{from: Deleted, op: "kill", want: Deleted, errIs: isNotFound},
		{from: Deleted, op: "delete", want: Deleted, errIs: isNotFound},
	}
	for _, tr := range trs {
		t.Run(tr.String(), func(t *testing.T) {
			ctx := context.Background()
			f := newFakePod(t)
			c := runningInit(t, f)
			e, err := NewExec(ctx, c, ExecConfig{ID: "e", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			must := func(err error) {
				if err != nil {
					t.Fatal(err)
				}
			}
			switch tr.from {
			case Running:
				must(e.Start(ctx))
			case Stopped:
				must(e.Start(ctx))
				e.SetExited(0)
			case Deleted:
				must(e.Delete(ctx))
			}
			op := func() error {
				switch tr.op {
				case "start":
					return e.Start(ctx)
				case "kill":
					return e.Kill(ctx, 15, false)
				case "delete":
					return e.Delete(ctx)
				case "exit":
					e.SetExited(3)
					return nil
				}
				t.Fatalf("unknown operation %s", tr.op)
				return nil
			}
			if tr.fail == "exec" {
				tr.check(t, f, e, op)
				if e.ExitStatus() != ExitStatusStartFailed {
					t.Errorf("exit %d after the failed start, want %d", e.ExitStatus(), ExitStatusStartFailed)
				}
				return
			}
			tr.check(t, f, e, op)
		})
	}
}
