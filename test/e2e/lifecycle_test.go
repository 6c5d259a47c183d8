package e2e

import (
	"os"
	"strings"
	"testing"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"

	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

func TestLifecycle(t *testing.T) {
	e := newEnv(t)

	t.Run("StdoutAndExitZero", func(t *testing.T) {
		c := e.container(t, "hello", oci.WithProcessArgs("/bin/sh", "-c", "echo hello from gVisor; echo to stderr >&2"))
		var out syncbuf.Buffer
		task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(nil, &out, &out)))
		st := waitExit(t, statusC)
		if st.ExitCode() != 0 {
			t.Fatalf("exit code %d, want 0", st.ExitCode())
		}
		del, err := task.Delete(e.ctx)
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
		if del.ExitCode() != 0 {
			t.Errorf("delete reports exit code %d, want 0", del.ExitCode())
		}
		if got := out.String(); !strings.Contains(got, "hello from gVisor\n") || !strings.Contains(got, "to stderr\n") {
			t.Errorf("output %q, want both lines", got)
		}
		x := e.events.exitOf(t, c.ID(), c.ID())
		if x.ExitStatus != 0 || x.Pid != task.Pid() {
			t.Errorf("TaskExit %+v, want status 0 pid %d", x, task.Pid())
		}
		e.events.checkExitBeforeDelete(t, c.ID())
	})

	t.Run("ExitCodeSeven", func(t *testing.T) {
		c := e.container(t, "seven", oci.WithProcessArgs("/bin/sh", "-c", "exit 7"))
		task, statusC := e.start(t, c, cio.NullIO)
		if st := waitExit(t, statusC); st.ExitCode() != 7 {
			t.Fatalf("Wait: exit code %d, want 7", st.ExitCode())
		}
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		x := e.events.exitOf(t, c.ID(), c.ID())
		if x.ExitStatus != 7 || x.Pid != task.Pid() || x.ExitedAt.IsZero() {
			t.Errorf("TaskExit %+v, want status 7 pid %d and an exit time", x, task.Pid())
		}
		e.events.checkExitBeforeDelete(t, c.ID())
	})

	t.Run("Stdin", func(t *testing.T) {
		c := e.container(t, "stdin", oci.WithProcessArgs("/bin/cat"))
		var out syncbuf.Buffer
		task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(strings.NewReader("piped through gVisor\n"), &out, &out)))
		// cat exits only when its stdin closes after the input.
		if st := waitExit(t, statusC); st.ExitCode() != 0 {
			t.Fatalf("exit code %d, want 0", st.ExitCode())
		}
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		if got := out.String(); got != "piped through gVisor\n" {
			t.Errorf("output %q, want the input echoed", got)
		}
		e.events.checkExitBeforeDelete(t, c.ID())
	})

	t.Run("DeleteCreated", func(t *testing.T) {
		c := e.container(t, "created", oci.WithProcessArgs("/bin/true"))
		task, err := c.NewTask(e.ctx, cio.NullIO)
		if err != nil {
			t.Fatalf("new task: %v", err)
		}
		if st, err := task.Status(e.ctx); err != nil || st.Status != containerd.Created {
			t.Fatalf("status %v %v, want created", st.Status, err)
		}
		// containerd kills a created task, waits for its exit, deletes it.
		if _, err := task.Delete(e.ctx, containerd.WithProcessKill); err != nil {
			t.Fatalf("delete: %v", err)
		}
		e.events.checkExitBeforeDelete(t, c.ID())
		assertNothingLeft(t, c.ID())
	})

	t.Run("NoForkedPublish", func(t *testing.T) {
		if b, err := os.ReadFile(e.forkLog); err == nil {
			t.Fatalf("the shim forked `containerd publish`: %s", b)
		}
	})
}

func TestTerminal(t *testing.T) {
	e := newEnv(t)
	c := e.container(t, "tty", oci.WithTTY, oci.WithProcessArgs("/bin/sh", "-c", waitForSize("40 100")))
	var out syncbuf.Buffer
	task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(nil, &out, nil), cio.WithTerminal))
	if err := task.Resize(e.ctx, 100, 40); err != nil {
		t.Fatalf("resize: %v", err)
	}
	if st := waitExit(t, statusC); st.ExitCode() != 0 {
		t.Fatalf("exit code %d, want 0; output %q", st.ExitCode(), out.String())
	}
	if _, err := task.Delete(e.ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	got := out.String()
	// stty only answers on a terminal, which turns \n into \r\n, and it
	// sees the resize.
	if !strings.Contains(got, "40 100\r\n") {
		t.Fatalf("output %q, want the terminal size 40 100 with a \\r\\n line end", got)
	}
}

// waitForSize is a script that waits (up to 10s) for the terminal to get
// size, then prints the size it has.
func waitForSize(size string) string {
	return `i=0; while [ "$(stty size)" != "` + size + `" ] && [ $i -lt 100 ]; do i=$((i+1)); sleep 0.1; done; stty size`
}

// A container that outgrows its memory limit: the kernel's OOM killer
// kills its sandbox in the memory cgroup runsc made for it, the TaskExit
// says 137, and a TaskOOM (CRI's reason OOMKilled) arrives for it. On
// cgroup v1 containerd's cgroups monitor publishes that TaskOOM, for the
// cgroup of the pid the shim reported at Create: the sandbox's, which the
// test checks is the right one.
func TestOOMKill(t *testing.T) {
	if _, err := os.Stat("/sys/fs/cgroup/memory/cgroup.event_control"); err != nil {
		t.Skip("needs a cgroup v1 memory hierarchy")
	}
	e := newEnv(t)
	c := e.container(t, "oom", oci.WithMemoryLimit(64<<20),
		oci.WithProcessArgs("/bin/sh", "-c", "x=a; while :; do x=$x$x; done"))
	task, statusC := e.start(t, c, cio.NullIO)
	if st := waitExit(t, statusC); st.ExitCode() != 137 {
		t.Fatalf("exit code %d, want 137 (SIGKILL)", st.ExitCode())
	}
	if _, err := task.Delete(e.ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	e.events.checkExitBeforeDelete(t, c.ID())
	var ooms int
	for _, ev := range e.events.snapshot() {
		if x, ok := ev.(*eventstypes.TaskOOM); ok && x.ContainerID == c.ID() {
			ooms++
		}
	}
	if ooms == 0 {
		t.Errorf("no TaskOOM for %s: %v", c.ID(), e.events.snapshot())
	}
}
