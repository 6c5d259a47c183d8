// Package e2e runs the shim under a real containerd daemon with real runsc
// sandboxes: containerd launches the built binary as its v1 `shim`, and
// the tests drive containers through containerd's Go client.
package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/internal/eventlog"
)

const namespace = "e2e"

func TestMain(m *testing.M) {
	code := m.Run()
	containerdtest.RemoveShim()
	os.Exit(code)
}

// env is one containerd daemon running our shim, shared by a test's
// subtests, with an events subscriber that records every task event.
type env struct {
	t       *testing.T
	d       *ctrdaemon.Daemon
	client  *containerd.Client
	ctx     context.Context
	rootfs  string
	forkLog string // written by the stand-in for `containerd publish` if it ever runs
	events  *recorder
}

func newEnv(t *testing.T) *env {
	t.Helper()
	containerdtest.RequireBinaries(t, "containerd", "runsc")
	shim := containerdtest.BuildShim(t)
	dir := t.TempDir()
	realContainerd, err := exec.LookPath("containerd")
	if err != nil {
		t.Fatal(err)
	}
	forkLog := filepath.Join(dir, "forks.log")
	// The shim's fork fallback runs -containerd-binary; point it at a
	// recorder so a test can prove the direct path never forked.
	recorder := writeScript(t, dir, "containerd-recorder", fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\nexec %s \"$@\"\n", forkLog, realContainerd))
	d := containerdtest.Start(t, containerdtest.Config{
		Shim:            shim,
		ShimConfig:      "[runsc_config]\n  network = \"none\"\n",
		ShimArgs:        []string{"-containerd-binary", recorder}, // overrides containerd's
		Runtime:         "runsc",
		RuntimeRootBase: "runsc",
		ShimDebug:       true,
	})
	c := containerdtest.Client(t, d)
	ctx := namespaces.WithNamespace(context.Background(), namespace)
	e := &env{t: t, d: d, client: c, ctx: ctx, rootfs: containerdtest.BusyboxRootfs(t), forkLog: forkLog}
	e.events = subscribe(t, ctx, c)
	// Runs after the tests' own cleanups (containers deleted), before the
	// daemon stops.
	t.Cleanup(func() { e.events.checkInvariants(t) })
	return e
}

func writeScript(t *testing.T, dir, name, text string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	return p
}

// container creates a container on the v1 runtime. Its id is name plus a
// per-run suffix: runsc names a sandbox's control socket after the id, and
// other test binaries may run sandboxes at the same time. Ending every id,
// the suffix also keeps one from being a prefix of another, which the shim
// refuses (this runsc finds containers by id prefix).
func (e *env) container(t *testing.T, name string, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	return e.containerWith(t, name, nil, opts...)
}

// containerWith is container with runc-style runtime options (the v1
// runtime takes the runtime binary from RuncOptions.Runtime).
func (e *env) containerWith(t *testing.T, name string, rtOpts *runctypes.RuncOptions, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	return e.containerNamed(t, fmt.Sprintf("%s-%d", name, os.Getpid()), rtOpts, opts...)
}

// containerNamed creates a container with exactly this id.
func (e *env) containerNamed(t *testing.T, id string, rtOpts *runctypes.RuncOptions, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	opts = append([]oci.SpecOpts{oci.WithRootFSPath(e.rootfs)}, opts...)
	c, err := e.client.NewContainer(e.ctx, id,
		containerd.WithNewSpec(opts...),
		containerd.WithRuntime(containerdtest.V1Runtime, runtimeOptions(rtOpts)))
	if err != nil {
		t.Fatalf("new container %s: %v", id, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(e.ctx, 20*time.Second)
		defer cancel()
		if task, err := c.Task(ctx, nil); err == nil {
			task.Delete(ctx, containerd.WithProcessKill)
		}
		c.Delete(ctx)
	})
	return c
}

func runtimeOptions(o *runctypes.RuncOptions) interface{} {
	if o == nil {
		return nil
	}
	return o
}

// recorder keeps every task event the subscriber received, in order.
type recorder struct{ eventlog.Recorder }

func subscribe(t *testing.T, ctx context.Context, c *containerd.Client) *recorder {
	sctx, cancel := context.WithCancel(ctx)
	t.Cleanup(cancel)
	r := &recorder{}
	r.Subscribe(sctx, c)
	return r
}

func (r *recorder) snapshot() []any { return r.Events() }

// exitOf waits for the TaskExit of container/process id.
func (r *recorder) exitOf(t *testing.T, container, id string) *eventstypes.TaskExit {
	t.Helper()
	deadline := time.After(20 * time.Second)
	for {
		for _, ev := range r.snapshot() {
			if x, ok := ev.(*eventstypes.TaskExit); ok && x.ContainerID == container && x.ID == id {
				return x
			}
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-deadline:
			t.Fatalf("no TaskExit for %s/%s; events: %v", container, id, r.snapshot())
		}
	}
}

// checkExitBeforeDelete asserts that the TaskExit of container's init
// arrived before its TaskDelete, and that both arrived.
func (r *recorder) checkExitBeforeDelete(t *testing.T, container string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		exitAt, deleteAt, exits := -1, -1, 0
		for i, ev := range r.snapshot() {
			switch x := ev.(type) {
			case *eventstypes.TaskExit:
				if x.ContainerID == container && x.ID == container {
					exits++
					if exitAt < 0 {
						exitAt = i
					}
				}
			case *eventstypes.TaskDelete:
				if x.ContainerID == container && x.ID == "" && deleteAt < 0 {
					deleteAt = i
				}
			}
		}
		if deleteAt >= 0 {
			if exitAt < 0 || exitAt > deleteAt {
				t.Fatalf("%s: TaskDelete (event %d) without an earlier TaskExit (event %d): %v", container, deleteAt, exitAt, r.snapshot())
			}
			if exits != 1 {
				t.Fatalf("%s: %d TaskExit events for the init, want 1: %v", container, exits, r.snapshot())
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no TaskDelete event: %v", container, r.snapshot())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// run starts a task with stdout/stderr into out and returns it with its
// exit channel.
func (e *env) start(t *testing.T, c containerd.Container, creator cio.Creator) (containerd.Task, <-chan containerd.ExitStatus) {
	t.Helper()
	task, err := c.NewTask(e.ctx, creator)
	if err != nil {
		t.Fatalf("new task: %v", err)
	}
	statusC, err := task.Wait(e.ctx)
	if err != nil {
		t.Fatalf("wait: %v", err)
	}
	if err := task.Start(e.ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	return task, statusC
}

// runExec runs exec id in task to its exit and deletes it; it returns the
// process (its Pid stays valid) and its exit.
func (e *env) runExec(t *testing.T, task containerd.Task, id string, spec *specs.Process, creator cio.Creator) (containerd.Process, containerd.ExitStatus) {
	t.Helper()
	p, err := task.Exec(e.ctx, id, spec, creator)
	if err != nil {
		t.Fatalf("exec %s: %v", id, err)
	}
	statusC, err := p.Wait(e.ctx)
	if err != nil {
		t.Fatalf("wait exec %s: %v", id, err)
	}
	if err := p.Start(e.ctx); err != nil {
		t.Fatalf("start exec %s: %v", id, err)
	}
	st := waitExit(t, statusC)
	if _, err := p.Delete(e.ctx); err != nil {
		t.Fatalf("delete exec %s: %v", id, err)
	}
	return p, st
}

func waitExit(t *testing.T, statusC <-chan containerd.ExitStatus) containerd.ExitStatus {
	t.Helper()
	select {
	case s := <-statusC:
		if s.Error() != nil {
			t.Fatalf("wait: %v", s.Error())
		}
		return s
	case <-time.After(30 * time.Second):
		t.Fatal("task did not exit within 30s")
	}
	return containerd.ExitStatus{}
}
