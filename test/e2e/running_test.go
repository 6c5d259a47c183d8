package e2e

import (
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// TestRunningContainer drives one long-running container through exec,
// ListPids, pause/resume, Update and finally a SIGTERM.
func TestRunningContainer(t *testing.T) {
	e := newEnv(t)
	c := e.container(t, "run", oci.WithProcessArgs("/bin/sh", "-c", `trap "exit 143" TERM; while true; do sleep 0.1; done`))
	task, statusC := e.start(t, c, cio.NullIO)
	spec, err := c.Spec(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	process := func(args ...string) *specs.Process {
		p := *spec.Process
		p.Args = args
		return &p
	}

	t.Run("Exec", func(t *testing.T) {
		var out syncbuf.Buffer
		p, st := e.runExec(t, task, "exec-out", process("/bin/sh", "-c", "echo exec output; exit 3"), cio.NewCreator(cio.WithStreams(nil, &out, &out)))
		if st.ExitCode() != 3 {
			t.Fatalf("exec exit code %d, want 3", st.ExitCode())
		}
		if got := out.String(); got != "exec output\n" {
			t.Errorf("exec output %q, want %q", got, "exec output\n")
		}
		x := e.events.exitOf(t, c.ID(), "exec-out")
		if x.ExitStatus != 3 || x.Pid != p.Pid() || x.Pid == 0 {
			t.Errorf("exec TaskExit %+v, want status 3 pid %d", x, p.Pid())
		}
	})

	t.Run("ExecTerminal", func(t *testing.T) {
		var out syncbuf.Buffer
		pspec := process("/bin/sh", "-c", waitForSize("30 90"))
		pspec.Terminal = true
		p, err := task.Exec(e.ctx, "exec-tty", pspec, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal))
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		pc, err := p.Wait(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(e.ctx); err != nil {
			t.Fatalf("start exec: %v", err)
		}
		if err := p.Resize(e.ctx, 90, 30); err != nil {
			t.Fatalf("resize exec: %v", err)
		}
		if st := waitExit(t, pc); st.ExitCode() != 0 {
			t.Fatalf("exec exit code %d, want 0; output %q", st.ExitCode(), out.String())
		}
		if _, err := p.Delete(e.ctx); err != nil {
			t.Fatalf("delete exec: %v", err)
		}
		if got := out.String(); !strings.Contains(got, "30 90\r\n") {
			t.Errorf("exec output %q, want the terminal size 30 90", got)
		}
	})

	// A terminal exec's waiter is the shim's own child, as without a
	// terminal: not `runsc exec --detach`, whose parent lost the status of
	// a process that exits at once, and dropped every argument containing
	// "detach" (this exec's id, and below the container's).
	t.Run("ExecTerminalExitingAtOnce", func(t *testing.T) {
		for i := 0; i < 5; i++ {
			var out syncbuf.Buffer
			pspec := process("/bin/sh", "-c", "[ -t 1 ] && echo on a terminal; exit 7")
			pspec.Terminal = true
			_, st := e.runExec(t, task, fmt.Sprintf("detach-probe-%d", i), pspec, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal))
			if st.ExitCode() != 7 {
				t.Errorf("exec %d: exit code %d, want 7; output %q", i, st.ExitCode(), out.String())
			}
			if got := out.String(); !strings.Contains(got, "on a terminal\r\n") {
				t.Errorf("exec %d: output %q, want %q through the terminal", i, got, "on a terminal\r\n")
			}
		}
	})

	t.Run("ExecTerminalInContainerIDWithDetach", func(t *testing.T) {
		c := e.container(t, "detach-ctr", oci.WithProcessArgs("/bin/sleep", "1000"))
		task, _ := e.start(t, c, cio.NullIO)
		cspec, err := c.Spec(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		pspec := *cspec.Process
		pspec.Args = []string{"/bin/sh", "-c", "[ -t 0 ] && read -r line && echo \"got $line on a terminal\""}
		pspec.Terminal = true
		var out syncbuf.Buffer
		if _, st := e.runExec(t, task, "tty", &pspec, cio.NewCreator(cio.WithStreams(strings.NewReader("hello\n"), &out, nil), cio.WithTerminal)); st.ExitCode() != 0 {
			t.Errorf("terminal exec in %s: exit code %d, want 0; output %q", c.ID(), st.ExitCode(), out.String())
		}
		if got := out.String(); !strings.Contains(got, "got hello on a terminal\r\n") {
			t.Errorf("terminal exec in %s: output %q, want its stdin back through the terminal", c.ID(), got)
		}
	})

	// runsc cannot start it: Start fails with runsc's reason. containerd's
	// client waits for the exec's output copies before it returns that
	// error, so the shim must let go of the fifos (it hung forever).
	t.Run("ExecMissingBinary", func(t *testing.T) {
		var out syncbuf.Buffer
		p, err := task.Exec(e.ctx, "missing", process("/no/such/binary"), cio.NewCreator(cio.WithStreams(nil, &out, &out)))
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		started := make(chan error, 1)
		go func() { started <- p.Start(e.ctx) }()
		select {
		case err := <-started:
			if err == nil || !strings.Contains(err.Error(), "/no/such/binary") {
				t.Fatalf("start: %v, want runsc's error naming the binary", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("start of an exec of a missing binary did not return within 30s")
		}
		if _, err := p.Delete(e.ctx); err != nil {
			t.Errorf("delete the exec that failed to start: %v", err)
		}
		if _, st := e.runExec(t, task, "after-missing", process("/bin/true"), cio.NullIO); st.ExitCode() != 0 {
			t.Errorf("next exec: exit code %d, want 0", st.ExitCode())
		}
	})

	// Kubernetes probes a container by exec every few seconds for weeks:
	// the shim's per-exec files (pid files, process specs) go with each
	// exec's Delete, also for execs that failed to start, so the
	// container's state and work dirs and the runsc root hold as many files
	// after the probes as before. (Ids are not reused here: the events
	// checker keys execs by id; shim/proc's tests reuse them.)
	t.Run("ExecProbesLeaveNoFiles", func(t *testing.T) {
		dirs := []string{
			filepath.Join(e.d.Dir, "state", "io.containerd.runtime.v1.linux", namespace, c.ID()),
			filepath.Join(e.d.Dir, "root", "io.containerd.runtime.v1.linux", namespace, c.ID()),
			e.d.RuntimeRoot,
		}
		before := countFiles(t, dirs)
		for i := 0; i < 10; i++ {
			if _, st := e.runExec(t, task, fmt.Sprintf("probe-%d", i), process("/bin/true"), cio.NullIO); st.ExitCode() != 0 {
				t.Fatalf("probe %d: exit code %d, want 0", i, st.ExitCode())
			}
			if _, st := e.runExec(t, task, fmt.Sprintf("probe-fails-%d", i), process("/bin/sh", "-c", "exit 1"), cio.NullIO); st.ExitCode() != 1 {
				t.Fatalf("probe %d: exit code %d, want 1", i, st.ExitCode())
			}
			p, err := task.Exec(e.ctx, fmt.Sprintf("probe-missing-%d", i), process("/no/such/binary"), cio.NullIO)
			if err != nil {
				t.Fatal(err)
			}
			pc, err := p.Wait(e.ctx)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Start(e.ctx); err == nil {
				t.Fatalf("probe %d: start of a missing binary succeeded", i)
			}
			// Wait is released with an exit status, as containerd-shim's.
			waitExit(t, pc)
			if _, err := p.Delete(e.ctx); err != nil {
				t.Fatalf("probe %d: delete the exec that failed to start: %v", i, err)
			}
		}
		if after := countFiles(t, dirs); after != before {
			t.Errorf("files under %q: %d before 30 exec probes, %d after", dirs, before, after)
		}
	})

	t.Run("ExecExistingID", func(t *testing.T) {
		p, err := task.Exec(e.ctx, "dup", process("/bin/true"), cio.NullIO)
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		defer p.Delete(e.ctx)
		if _, err := task.Exec(e.ctx, "dup", process("/bin/true"), cio.NullIO); !errdefs.IsAlreadyExists(err) {
			t.Fatalf("second exec with the same id: %v, want AlreadyExists", err)
		}
	})

	t.Run("UnknownExec", func(t *testing.T) {
		if _, err := task.LoadProcess(e.ctx, "no-such-exec", nil); !errdefs.IsNotFound(err) {
			t.Fatalf("load unknown exec: %v, want NotFound", err)
		}
	})

	t.Run("ListPidsShowsExec", func(t *testing.T) {
		p, err := task.Exec(e.ctx, "sleeper", process("/bin/sleep", "30"), cio.NullIO)
		if err != nil {
			t.Fatalf("exec: %v", err)
		}
		pc, err := p.Wait(e.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.Start(e.ctx); err != nil {
			t.Fatalf("start exec: %v", err)
		}
		pids, err := task.Pids(e.ctx)
		if err != nil {
			t.Fatalf("pids: %v", err)
		}
		found := false
		for _, pi := range pids {
			if pi.Info == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(pi.Info)
			if err != nil {
				t.Fatal(err)
			}
			if d, ok := v.(*runctypes.ProcessDetails); ok && d.ExecID == "sleeper" && pi.Pid == p.Pid() {
				found = true
			}
		}
		if len(pids) < 2 || !found {
			t.Fatalf("pids %v: want the init and the exec %q (pid %d) with its exec id", pids, "sleeper", p.Pid())
		}
		if err := p.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatalf("kill exec: %v", err)
		}
		if st := waitExit(t, pc); st.ExitCode() != 137 {
			t.Errorf("killed exec exit code %d, want 137", st.ExitCode())
		}
		if _, err := p.Delete(e.ctx); err != nil {
			t.Fatalf("delete exec: %v", err)
		}
		if x := e.events.exitOf(t, c.ID(), "sleeper"); x.ExitStatus != 137 {
			t.Errorf("exec TaskExit %+v, want status 137", x)
		}
	})

	t.Run("PauseResume", func(t *testing.T) {
		if err := task.Pause(e.ctx); err != nil {
			t.Fatalf("pause: %v", err)
		}
		if st, err := task.Status(e.ctx); err != nil || st.Status != containerd.Paused {
			t.Fatalf("status after pause: %v %v, want paused", st.Status, err)
		}
		if err := task.Resume(e.ctx); err != nil {
			t.Fatalf("resume: %v", err)
		}
		if st, err := task.Status(e.ctx); err != nil || st.Status != containerd.Running {
			t.Fatalf("status after resume: %v %v, want running", st.Status, err)
		}
	})

	t.Run("KillSIGTERM", func(t *testing.T) {
		if err := task.Kill(e.ctx, syscall.SIGTERM); err != nil {
			t.Fatalf("kill: %v", err)
		}
		if st := waitExit(t, statusC); st.ExitCode() != 143 {
			t.Fatalf("exit code %d, want 143 (the TERM trap)", st.ExitCode())
		}
		if st, err := task.Status(e.ctx); err != nil || st.Status != containerd.Stopped {
			t.Fatalf("status: %v %v, want stopped", st.Status, err)
		}
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if x := e.events.exitOf(t, c.ID(), c.ID()); x.ExitStatus != 143 || x.Pid != task.Pid() {
			t.Errorf("TaskExit %+v, want status 143 pid %d", x, task.Pid())
		}
		e.events.checkExitBeforeDelete(t, c.ID())
	})
}

// countFiles counts the files (not directories) under dirs.
func countFiles(t *testing.T, dirs []string) int {
	t.Helper()
	n := 0
	for _, dir := range dirs {
		err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() {
				n++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}
