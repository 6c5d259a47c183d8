package e2e

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	"github.com/containerd/errdefs"
)

// TestCreateFailures checks that a container runsc cannot create fails
// NewTask with runsc's own reason and leaves nothing running or mounted.
func TestCreateFailures(t *testing.T) {
	e := newEnv(t)

	t.Run("SpecRunscRejects", func(t *testing.T) {
		c := e.container(t, "noargs", oci.WithProcessArgs())
		_, err := c.NewTask(e.ctx, cio.NullIO)
		if err == nil || !strings.Contains(err.Error(), "runsc create") || !strings.Contains(err.Error(), "Spec.Process.Arg must be defined") {
			t.Fatalf("new task: %v, want runsc's complaint about the missing args", err)
		}
		assertNothingLeft(t, c.ID())
	})

	t.Run("MissingRunsc", func(t *testing.T) {
		c := e.containerWith(t, "norunsc", &runctypes.RuncOptions{Runtime: "/nonexistent/runsc"}, oci.WithProcessArgs("/bin/true"))
		_, err := c.NewTask(e.ctx, cio.NullIO)
		if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), `"/nonexistent/runsc" not found`) {
			t.Fatalf("new task: %v, want a clear missing-runsc error (FailedPrecondition)", err)
		}
		assertNothingLeft(t, c.ID())
	})

	// A terminal asked for in the task but not in the spec: runsc create
	// would exit 0 without ever connecting to the console socket (runsc
	// only makes a sandbox's pty for a spec with process.terminal), so the
	// shim refuses it before running anything.
	t.Run("TerminalNotInSpec", func(t *testing.T) {
		c := e.container(t, "notty", oci.WithProcessArgs("/bin/true"))
		// Far above the shim's bound on the wait for a terminal, in case
		// the create ran after all.
		ctx, cancel := context.WithTimeout(e.ctx, time.Minute)
		defer cancel()
		_, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, io.Discard, nil), cio.WithTerminal))
		if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "process.terminal is false but the task's terminal is true") {
			t.Fatalf("new task: %v, want InvalidArgument naming both settings", err)
		}
		assertNothingLeft(t, c.ID())
	})
}

// TestPrefixIDs: this runsc finds containers by id prefix, so a task whose
// id extends a running one's is refused, and the running one can still be
// killed and deleted.
func TestPrefixIDs(t *testing.T) {
	e := newEnv(t)
	prefix := fmt.Sprintf("prefix%d", os.Getpid())
	first := e.containerNamed(t, prefix+"-1", nil, oci.WithProcessArgs("/bin/sleep", "1000"))
	task, statusC := e.start(t, first, cio.NullIO)

	second := e.containerNamed(t, prefix+"-11", nil, oci.WithProcessArgs("/bin/sleep", "1000"))
	_, err := second.NewTask(e.ctx, cio.NullIO)
	want := fmt.Sprintf("create %s-11: runsc finds containers by id prefix, and %s-1 exists in %s", prefix, prefix, filepath.Join(e.d.RuntimeRoot, namespace))
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), want) {
		t.Fatalf("new task %s: %v, want FailedPrecondition containing %q", second.ID(), err, want)
	}
	assertNothingLeft(t, second.ID())

	if err := task.Kill(e.ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("kill %s: %v", first.ID(), err)
	}
	waitExit(t, statusC)
	e.deleteTask(t, first, task, 137)
	assertNothingLeft(t, first.ID())
	states, _ := filepath.Glob(filepath.Join(e.d.RuntimeRoot, namespace, "*_sandbox:"+prefix+"-*"))
	if len(states) != 0 {
		t.Errorf("runsc still keeps %q", states)
	}
}

// assertNothingLeft fails if a process or a mount still mentions id.
func assertNothingLeft(t *testing.T, id string) {
	t.Helper()
	cmdlines, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range cmdlines {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "/"+id+"/") {
			t.Errorf("process %s still runs for %s: %q", filepath.Dir(p), id, strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	mounts, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mounts), "/"+id+"/") {
		t.Errorf("something of %s is still mounted:\n%s", id, mounts)
	}
}
