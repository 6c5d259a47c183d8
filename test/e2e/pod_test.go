package e2e

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// The annotations containerd's CRI plugin puts on a pod's containers.
const (
	annotationContainerType = "io.kubernetes.cri.container-type"
	annotationSandboxID     = "io.kubernetes.cri.sandbox-id"
)

// pod is a CRI-style pod: a sandbox container and app containers that runsc
// joins to its sandbox (same runsc root: same runtime root and namespace).
type pod struct {
	e       *env
	sandbox containerd.Container
	task    containerd.Task
	exitC   <-chan containerd.ExitStatus // the sandbox task's
	apps    []string                     // ids of the app containers
}

func (e *env) newPod(t *testing.T, name string) *pod {
	t.Helper()
	c := e.container(t, name, oci.WithProcessArgs("/bin/sleep", "1000"), func(ctx context.Context, cl oci.Client, c *containers.Container, s *oci.Spec) error {
		return oci.WithAnnotations(map[string]string{annotationContainerType: "sandbox", annotationSandboxID: c.ID})(ctx, cl, c, s)
	})
	task, exitC := e.start(t, c, cio.NullIO)
	return &pod{e: e, sandbox: c, task: task, exitC: exitC}
}

// app creates an app container of the pod running args, on a rootfs of its
// own as CRI gives each container its own snapshot: current runsc refuses a
// second container on the same directory ("repeated submounts are not
// supported with overlay optimizations").
func (p *pod) app(t *testing.T, name string, args []string, opts ...oci.SpecOpts) containerd.Container {
	t.Helper()
	opts = append([]oci.SpecOpts{oci.WithRootFSPath(containerdtest.BusyboxRootfs(t)), oci.WithProcessArgs(args...), oci.WithAnnotations(map[string]string{
		annotationContainerType: "container",
		annotationSandboxID:     p.sandbox.ID(),
	})}, opts...)
	c := p.e.container(t, name, opts...)
	p.apps = append(p.apps, c.ID())
	return c
}

func sh(script string) []string { return []string{"/bin/sh", "-c", script} }

// requireNothingLeft checks, once the pod's tasks are deleted, that runsc
// knows none of its containers and no process or mount is left.
func (p *pod) requireNothingLeft(t *testing.T) {
	t.Helper()
	list := p.e.runscList(t)
	for _, id := range append([]string{p.sandbox.ID()}, p.apps...) {
		if strings.Contains(list, id) {
			t.Errorf("runsc list still has %s:\n%s", id, list)
		}
		assertNothingLeft(t, id)
	}
}

// runscState is `runsc state` of id in the daemon's runsc root; "" when
// runsc does not know id.
func (e *env) runscState(t *testing.T, id string) (status string, pid int) {
	t.Helper()
	out, err := exec.Command("runsc", "--root", filepath.Join(e.d.RuntimeRoot, namespace), "state", id).Output()
	if err != nil {
		return "", 0
	}
	var st struct {
		Status string `json:"status"`
		Pid    int    `json:"pid"`
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("runsc state %s: %q: %v", id, out, err)
	}
	return st.Status, st.Pid
}

func (e *env) runscList(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("runsc", "--root", filepath.Join(e.d.RuntimeRoot, namespace), "list").CombinedOutput()
	if err != nil {
		t.Fatalf("runsc list: %v: %s", err, out)
	}
	return string(out)
}

// requireSandboxRunning fails unless the pod's sandbox task and runsc both
// say it runs.
func (p *pod) requireSandboxRunning(t *testing.T) {
	t.Helper()
	st, err := p.task.Status(p.e.ctx)
	if err != nil || st.Status != containerd.Running {
		t.Fatalf("pod sandbox task: %+v, %v; want running", st, err)
	}
	if s, _ := p.e.runscState(t, p.sandbox.ID()); s != "running" {
		t.Fatalf("runsc state of the pod sandbox: %q, want running", s)
	}
}

func taskStatus(t *testing.T, ctx context.Context, task containerd.Task) containerd.ProcessStatus {
	t.Helper()
	st, err := task.Status(ctx)
	if err != nil {
		t.Fatalf("task status: %v", err)
	}
	return st.Status
}

// deleteTask deletes a stopped task and checks its TaskExit came first and
// matches what Delete returned.
func (e *env) deleteTask(t *testing.T, c containerd.Container, task containerd.Task, want uint32) {
	t.Helper()
	st, err := task.Delete(e.ctx)
	if err != nil {
		t.Fatalf("delete %s: %v", c.ID(), err)
	}
	if st.ExitCode() != want {
		t.Errorf("delete %s: exit %d, want %d", c.ID(), st.ExitCode(), want)
	}
	e.events.checkExitBeforeDelete(t, c.ID())
}

func TestPod(t *testing.T) {
	e := newEnv(t)
	p := e.newPod(t, "pod")
	sandboxPid := p.task.Pid()

	t.Run("AppExitsAtOnce", func(t *testing.T) {
		c := p.app(t, "app-exit", sh("echo to stdout; echo to stderr >&2; exit 3"))
		var stdout, stderr syncbuf.Buffer
		task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr)))
		if task.Pid() != sandboxPid {
			t.Errorf("app task pid %d, want the pod sandbox's %d (what runsc reports)", task.Pid(), sandboxPid)
		}
		if st := waitExit(t, statusC); st.ExitCode() != 3 {
			t.Fatalf("exit code %d, want 3", st.ExitCode())
		}
		x := e.events.exitOf(t, c.ID(), c.ID())
		if x.ExitStatus != 3 || x.ExitedAt.IsZero() {
			t.Errorf("TaskExit %+v, want status 3 with a time", x)
		}
		if s := taskStatus(t, e.ctx, task); s != containerd.Stopped {
			t.Errorf("task status %s after exit, want stopped", s)
		}
		e.deleteTask(t, c, task, 3)
		if stdout.String() != "to stdout\n" || stderr.String() != "to stderr\n" {
			t.Errorf("stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		p.requireSandboxRunning(t)
	})

	t.Run("AppRuns", func(t *testing.T) {
		c := p.app(t, "app-run", sh(`echo started; trap "echo terminated; exit 143" TERM; while true; do sleep 0.1; done`))
		var out syncbuf.Buffer
		task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
		waitFor(t, "the app's first output", func() bool { return out.String() == "started\n" })
		if s := taskStatus(t, e.ctx, task); s != containerd.Running {
			t.Fatalf("task status %s, want running", s)
		}
		if s, pid := e.runscState(t, c.ID()); s != "running" || pid != int(sandboxPid) {
			t.Fatalf("runsc state %q pid %d, want running in the sandbox (pid %d)", s, pid, sandboxPid)
		}

		pids, err := task.Pids(e.ctx)
		if err != nil || len(pids) == 0 {
			t.Fatalf("ListPids: %v, %v; want the app's processes", pids, err)
		}

		spec, err := c.Spec(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pspec := *spec.Process
		pspec.Args = []string{"/bin/sh", "-c", "echo exec in $(cat /proc/1/cmdline | tr '\\0' ' '); exit 5"}
		var execOut syncbuf.Buffer
		if _, st := e.runExec(t, task, "probe", &pspec, cio.NewCreator(cio.WithStreams(nil, &execOut, &execOut))); st.ExitCode() != 5 {
			t.Fatalf("exec exit %d, want 5", st.ExitCode())
		}
		// The exec ran in the app container (its pid 1 is the app's sh),
		// not in the pod's sandbox container (sleep).
		if got := execOut.String(); !strings.HasPrefix(got, "exec in /bin/sh -c echo started") {
			t.Errorf("exec output %q, want it to run in the app container", got)
		}
		if x := e.events.exitOf(t, c.ID(), "probe"); x.ExitStatus != 5 {
			t.Errorf("exec TaskExit %+v, want status 5", x)
		}

		if err := task.Pause(e.ctx); !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "whole pod sandbox") {
			t.Errorf("pause: %v, want NotImplemented saying runsc would pause the whole pod", err)
		}
		if s := taskStatus(t, e.ctx, task); s != containerd.Running {
			t.Errorf("task status %s after a refused pause, want running", s)
		}

		if err := task.Kill(e.ctx, syscall.SIGTERM); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if st := waitExit(t, statusC); st.ExitCode() != 143 {
			t.Fatalf("exit code %d after SIGTERM, want 143", st.ExitCode())
		}
		if s, _ := e.runscState(t, c.ID()); s != "stopped" {
			t.Errorf("runsc state %q after exit, want stopped", s)
		}
		if pids, err := task.Pids(e.ctx); err != nil || len(pids) != 0 {
			t.Errorf("ListPids of the stopped app: %v, %v; want none and no error", pids, err)
		}
		// CRI's stop treats NotFound as "already stopped".
		if err := task.Kill(e.ctx, syscall.SIGKILL, containerd.WithKillAll); !errdefs.IsNotFound(err) {
			t.Errorf("kill after exit: %v, want NotFound", err)
		}
		e.deleteTask(t, c, task, 143)
		if !strings.Contains(out.String(), "terminated\n") {
			t.Errorf("output %q, want the trap's", out.String())
		}
		p.requireSandboxRunning(t)
	})

	t.Run("KillCreatedApp", func(t *testing.T) {
		c := p.app(t, "app-created", []string{"/bin/sleep", "1000"})
		task, err := c.NewTask(e.ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("new task: %v", err)
		}
		statusC, err := task.Wait(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if s, _ := e.runscState(t, c.ID()); s != "created" {
			t.Fatalf("runsc state %q, want created", s)
		}
		if err := task.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatalf("kill created: %v", err)
		}
		if st := waitExit(t, statusC); st.ExitCode() != 137 {
			t.Fatalf("exit code %d, want 137", st.ExitCode())
		}
		if s := taskStatus(t, e.ctx, task); s != containerd.Stopped {
			t.Errorf("task status %s, want stopped", s)
		}
		p.requireSandboxRunning(t)
		e.deleteTask(t, c, task, 137)
	})

	t.Run("DeleteCreatedApp", func(t *testing.T) {
		c := p.app(t, "app-del", []string{"/bin/sleep", "1000"})
		task, err := c.NewTask(e.ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("new task: %v", err)
		}
		// What CRI's RemoveContainer does with a created container.
		if _, err := task.Delete(e.ctx, containerd.WithProcessKill); err != nil {
			t.Fatalf("delete created: %v", err)
		}
		e.events.checkExitBeforeDelete(t, c.ID())
		p.requireSandboxRunning(t)
	})

	t.Run("StartFails", func(t *testing.T) {
		c := p.app(t, "app-nobin", []string{"/no/such/binary"})
		task, err := c.NewTask(e.ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("new task: %v", err)
		}
		if err := task.Start(e.ctx); err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
			t.Fatalf("start: %v, want runsc's error naming the binary", err)
		}
		// What CRI does after a failed start.
		if _, err := task.Delete(e.ctx, containerd.WithProcessKill); err != nil {
			t.Fatalf("delete after a failed start: %v", err)
		}
		e.events.checkExitBeforeDelete(t, c.ID())
		p.requireSandboxRunning(t)
	})

	t.Run("Terminal", func(t *testing.T) {
		c := p.app(t, "app-tty", sh("[ -t 1 ] && echo stdout is a tty; read line; echo got $line; exit 4"), oci.WithTTY)
		var out syncbuf.Buffer
		task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(strings.NewReader("typed\n"), &out, nil), cio.WithTerminal))
		if st := waitExit(t, statusC); st.ExitCode() != 4 {
			t.Fatalf("exit code %d, want 4; output %q", st.ExitCode(), out.String())
		}
		e.deleteTask(t, c, task, 4)
		if got := out.String(); !strings.Contains(got, "stdout is a tty\r\n") || !strings.Contains(got, "got typed\r\n") {
			t.Errorf("output %q, want the terminal's stdout and the line typed on it", got)
		}
	})

	t.Run("SandboxStoppedLast", func(t *testing.T) {
		if err := p.task.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatalf("kill the pod sandbox: %v", err)
		}
		waitExit(t, p.exitC)
		e.deleteTask(t, p.sandbox, p.task, 137)
		p.requireNothingLeft(t)
	})
}

// TestPodSandboxDies kills a pod's sandbox under running app containers:
// each app's shim must report an exit, none may stay running, and deleting
// them all leaves nothing behind.
func TestPodSandboxDies(t *testing.T) {
	e := newEnv(t)
	p := e.newPod(t, "pod-dies")
	type app struct {
		c       containerd.Container
		task    containerd.Task
		statusC <-chan containerd.ExitStatus
	}
	var apps []app
	for _, name := range []string{"dies-a", "dies-b"} {
		c := p.app(t, name, []string{"/bin/sleep", "1000"})
		task, statusC := e.start(t, c, cio.NullIO)
		apps = append(apps, app{c, task, statusC})
	}
	created := p.app(t, "dies-created", []string{"/bin/sleep", "1000"})
	createdTask, err := created.NewTask(e.ctx, cio.NullIO)
	if err != nil {
		t.Fatalf("new task: %v", err)
	}

	if err := p.task.Kill(e.ctx, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the pod sandbox: %v", err)
	}
	for _, a := range apps {
		if st := waitExit(t, a.statusC); st.ExitCode() != 137 {
			t.Errorf("%s: exit code %d, want 137 (killed with its sandbox)", a.c.ID(), st.ExitCode())
		}
		if x := e.events.exitOf(t, a.c.ID(), a.c.ID()); x.ExitStatus != 137 {
			t.Errorf("%s: TaskExit %+v, want status 137", a.c.ID(), x)
		}
		if s := taskStatus(t, e.ctx, a.task); s != containerd.Stopped {
			t.Errorf("%s: task status %s, want stopped", a.c.ID(), s)
		}
	}
	// runsc reports a created container stopped once its sandbox is gone
	// (and reaped: runsc takes a zombie for alive); State agrees, with
	// the exit.
	waitFor(t, "the created app to read stopped", func() bool {
		return taskStatus(t, e.ctx, createdTask) == containerd.Stopped
	})
	if x := e.events.exitOf(t, created.ID(), created.ID()); x.ExitStatus != 137 {
		t.Errorf("created app: TaskExit %+v, want status 137", x)
	}
	for _, a := range apps {
		e.deleteTask(t, a.c, a.task, 137)
	}
	e.deleteTask(t, created, createdTask, 137)
	waitExit(t, p.exitC)
	e.deleteTask(t, p.sandbox, p.task, 137)
	p.requireNothingLeft(t)
}

// waitFor polls cond for up to 20s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
