package proc

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// runningInit is an Init of the fake runsc, started.
func runningInit(t *testing.T, f *fakePod) *Init {
	t.Helper()
	ctx := context.Background()
	c, err := NewInit(ctx, ContainerConfig{ID: "c", Namespace: "ns", Bundle: newBundle(t), Runtime: f.rt})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// execFiles lists the exec pid files (and process specs) in the directory
// execs into c keep theirs in.
func execFiles(t *testing.T, c Container) []string {
	t.Helper()
	ents, err := os.ReadDir(c.execTarget().dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), "exec-") || strings.HasPrefix(e.Name(), "process-") {
			names = append(names, e.Name())
		}
	}
	return names
}

func checkNoExecFiles(t *testing.T, c Container, when string) {
	t.Helper()
	if files := execFiles(t, c); len(files) != 0 {
		t.Errorf("%s: exec files left: %q", when, files)
	}
}

// checkStartFailed checks an exec whose Start failed: it has ended, with
// ExitStatusStartFailed, and its waiters are released.
func checkStartFailed(t *testing.T, e *Exec) {
	t.Helper()
	select {
	case <-e.Exited():
	default:
		t.Fatal("Exited not closed after the failed start: a Wait would block for good")
	}
	if s := status(t, e); s != Stopped || e.ExitStatus() != ExitStatusStartFailed || e.ExitedAt().IsZero() {
		t.Errorf("after the failed start: status %q, exit %d at %v; want stopped, %d", s, e.ExitStatus(), e.ExitedAt(), ExitStatusStartFailed)
	}
	if err := e.Kill(context.Background(), 9, false); !errdefs.IsNotFound(err) {
		t.Errorf("kill after the failed start: %v, want NotFound", err)
	}
}

// Probes run as Exec, Start, exit, Delete, for weeks, mostly under one
// reused id: each one's pid files go with its Delete.
func TestExecDeleteRemovesPidFiles(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	c := runningInit(t, f)
	for i := 0; i < 3; i++ {
		e, err := NewExec(ctx, c, ExecConfig{ID: "probe", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if err := e.Start(ctx); err != nil {
			t.Fatal(err)
		}
		if len(execFiles(t, c)) != 2 {
			t.Fatalf("probe %d: exec files %q, want its two pid files while it runs", i, execFiles(t, c))
		}
		e.SetExited(0)
		if err := e.Delete(ctx); err != nil {
			t.Fatal(err)
		}
		checkNoExecFiles(t, c, "after DeleteProcess")
	}
}

// An exec of a missing binary (a probe with a typo): Start returns runsc's
// error, Wait is released with an exit status, and nothing is left.
func TestExecStartFailureReleasesWait(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	c := runningInit(t, f)
	e, err := NewExec(ctx, c, ExecConfig{ID: "probe", Spec: specs.Process{Args: []string{"/no/such/binary"}}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err == nil {
		t.Fatal("start of a missing binary succeeded")
	}
	checkStartFailed(t, e)
	if err := e.Start(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("second start: %v, want FailedPrecondition", err)
	}
	checkNoExecFiles(t, c, "after the failed start")
	if err := e.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// An exec deleted before it started releases its waiters too.
func TestExecDeletedUnstartedReleasesWait(t *testing.T) {
	ctx := context.Background()
	c := runningInit(t, newFakePod(t))
	e, err := NewExec(ctx, c, ExecConfig{ID: "e", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case <-e.Exited():
	default:
		t.Fatal("Exited not closed after Delete: a Wait would block for good")
	}
}

// Pid files an earlier exec of the same id left behind (a shim killed
// before DeleteProcess) are not taken for the new exec's: its waiter is
// waited for, and its pid is its own.
func TestReusedExecIDReadsItsOwnPid(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	c := runningInit(t, f)
	pidFile, internalPidFile := execPidFiles(c.execTarget().dir, "probe")
	for _, p := range []string{pidFile, internalPidFile} {
		if err := os.WriteFile(p, []byte("99"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f.touch(t, "exec-delay", "0.3")
	e, err := NewExec(ctx, c, ExecConfig{ID: "probe", Spec: specs.Process{Args: []string{"true"}}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if e.Pid() != 7 {
		t.Errorf("exec pid %d, want 7 (runsc's), not the old exec's 99", e.Pid())
	}
	if b, err := os.ReadFile(filepath.Join(f.dir, "calls")); err != nil || !strings.Contains(string(b), "exec") {
		t.Fatalf("runsc calls %q %v", b, err)
	}
	e.SetExited(0)
	if err := e.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoExecFiles(t, c, "after DeleteProcess")
}
