package e2e

import (
	"bytes"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// ioTimeout bounds a wait for output that would otherwise hang forever
// when the shim has stopped copying (the failure these tests look for).
const ioTimeout = 30 * time.Second

// TestOutputAcrossReaderRestart: the client reading a container's stdout
// fifo (containerd's cio) closes it while the container goes on writing,
// then attaches again (cio.NewAttach, as a restarted client or daemon
// does): between them the readers get every line once, in order.
func TestOutputAcrossReaderRestart(t *testing.T) {
	e := newEnv(t)

	t.Run("NumberedLinesEvery50ms", func(t *testing.T) {
		const lines = 120
		c := e.container(t, "reread", oci.WithProcessArgs("/bin/sh", "-c",
			fmt.Sprintf(`i=0; while [ $i -lt %d ]; do echo line $i; i=$((i+1)); sleep 0.05; done`, lines)))
		before, after := e.readAcrossReattach(t, c, 10, 500*time.Millisecond)
		checkLines(t, before+after, "line ", 0, lines-1)
	})

	t.Run("BlockedWriterResumes", func(t *testing.T) {
		// About 230 KB: more than the fifo and the pipe behind it hold, so
		// the container blocks while no one reads.
		const lines = 40000
		c := e.container(t, "blocked", oci.WithProcessArgs("/bin/busybox", "seq", "1", strconv.Itoa(lines)))
		before, after := e.readAcrossReattach(t, c, 1000, time.Second)
		checkLines(t, before+after, "", 1, lines)
	})
}

// readAcrossReattach runs c with its stdout in a fifo read through cio,
// reads n lines, closes the reader, waits pause while the container goes
// on, attaches again and reads until the container's output ends. It
// returns what each reader got.
func (e *env) readAcrossReattach(t *testing.T, c containerd.Container, n int, pause time.Duration) (before, after string) {
	t.Helper()
	fifos := cio.NewFIFOSet(cio.Config{Stdout: filepath.Join(t.TempDir(), "stdout")}, nil)
	direct, err := cio.NewDirectIO(e.ctx, fifos)
	if err != nil {
		t.Fatal(err)
	}
	task, statusC := e.start(t, c, func(string) (cio.IO, error) { return direct, nil })
	var first bytes.Buffer
	got := make(chan error, 1)
	go func() {
		b := make([]byte, 512)
		for bytes.Count(first.Bytes(), []byte("\n")) < n {
			k, err := direct.Stdout.Read(b)
			first.Write(b[:k])
			if err != nil {
				got <- err
				return
			}
		}
		got <- nil
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("first reader: %v after %q", err, first.String())
		}
	case <-time.After(ioTimeout):
		t.Fatalf("first reader: fewer than %d lines within %v", n, ioTimeout)
	}
	direct.Close()
	time.Sleep(pause)

	var second syncbuf.Buffer
	attached, err := c.Task(e.ctx, cio.NewAttach(cio.WithStreams(nil, &second, nil)))
	if err != nil {
		t.Fatalf("attach: %v", err)
	}
	if st := waitExit(t, statusC); st.ExitCode() != 0 {
		t.Fatalf("exit %d", st.ExitCode())
	}
	copied := make(chan struct{})
	go func() { attached.IO().Wait(); close(copied) }()
	select {
	case <-copied:
	case <-time.After(ioTimeout):
		attached.IO().Cancel()
		t.Fatalf("the attached reader saw no EOF within %v after the exit; it got %d bytes", ioTimeout, len(second.String()))
	}
	attached.IO().Close()
	if _, err := task.Delete(e.ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	return first.String(), second.String()
}

// checkLines asserts that out is "<prefix>first\n" ... "<prefix>last\n".
func checkLines(t *testing.T, out, prefix string, first, last int) {
	t.Helper()
	next := first
	for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		if l != fmt.Sprintf("%s%d", prefix, next) {
			t.Fatalf("after %q%d got %q; want every line from %d to %d once, in order", prefix, next-1, l, first, last)
		}
		next++
	}
	if next != last+1 {
		t.Fatalf("output ends at %s%d, want up to %d", prefix, next-1, last)
	}
}

// checkLogFile asserts that the file:// log at path holds the lines want.
// stdout and stderr are copied concurrently, so a stderr line may come
// before or after the stdout line written just before it; within a stream
// (an "err" line or not), the order is kept.
func checkLogFile(t *testing.T, path string, want ...string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	stream := func(lines []string, stderr bool) string {
		var s []string
		for _, l := range lines {
			if strings.Contains(l, "err") == stderr {
				s = append(s, l)
			}
		}
		return strings.Join(s, ",")
	}
	if len(got) != len(want) || stream(got, false) != stream(want, false) || stream(got, true) != stream(want, true) {
		t.Fatalf("log file %s holds %q, want the lines %q (stdout and stderr each in order)", path, b, want)
	}
}

// buildLogDriver builds the test logging driver (testdata/logdriver).
func buildLogDriver(t *testing.T) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), "logdriver")
	cmd := exec.Command("go", "build", "-o", out, "./testdata/logdriver")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building the logging driver: %v\n%s", err, b)
	}
	return out
}

// TestLogURIs runs containers with ctr's --log-uri forms (file:// and
// binary://, through the client's cio.LogFile and cio.BinaryIO) and bad
// URIs.
func TestLogURIs(t *testing.T) {
	e := newEnv(t)
	driver := buildLogDriver(t)
	const script = `echo out1; echo err1 >&2; sleep 0.2; echo out2`

	t.Run("File", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "logs", "c.log")
		c := e.container(t, "logfile", oci.WithProcessArgs("/bin/sh", "-c", script))
		task, statusC := e.start(t, c, cio.LogFile(path))
		if st := waitExit(t, statusC); st.ExitCode() != 0 {
			t.Fatalf("exit %d", st.ExitCode())
		}
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkLogFile(t, path, "out1", "err1", "out2")

		// A second container appends to the same file; an exec of a
		// running one can log to a file too.
		c2 := e.container(t, "logfile2", oci.WithProcessArgs("/bin/sh", "-c", "echo again; sleep 30"))
		task2, statusC2 := e.start(t, c2, cio.LogFile(path))
		execPath := filepath.Join(t.TempDir(), "exec.log")
		if _, st := e.runExec(t, task2, "logexec", &specs.Process{Args: []string{"/bin/sh", "-c", "echo from exec; echo exec err >&2"}, Cwd: "/"}, cio.LogFile(execPath)); st.ExitCode() != 0 {
			t.Fatalf("exec exit %d", st.ExitCode())
		}
		checkLogFile(t, execPath, "from exec", "exec err")
		if err := task2.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitExit(t, statusC2)
		if _, err := task2.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		checkLogFile(t, path, "out1", "err1", "out2", "again")
	})

	t.Run("Binary", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "driver.log")
		c := e.container(t, "logbinary", oci.WithProcessArgs("/bin/sh", "-c", script))
		task, statusC := e.start(t, c, cio.BinaryIO(driver, map[string]string{"out": out}))
		pid := readPid(t, out+".pid")
		if st := waitExit(t, statusC); st.ExitCode() != 0 {
			t.Fatalf("exit %d", st.ExitCode())
		}
		// The container's end is the driver's EOF: it exits by itself,
		// before Delete.
		waitGone(t, pid)
		if _, err := os.Stat(out + ".eof"); err != nil {
			t.Fatalf("the driver exited without reading EOF: %v", err)
		}
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		// Each stream is in order; the two interleave as the driver read them.
		var stdout, stderr []string
		for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			switch {
			case strings.HasPrefix(l, "stdout: "):
				stdout = append(stdout, strings.TrimPrefix(l, "stdout: "))
			case strings.HasPrefix(l, "stderr: "):
				stderr = append(stderr, strings.TrimPrefix(l, "stderr: "))
			default:
				t.Fatalf("driver output line %q", l)
			}
		}
		if strings.Join(stdout, ",") != "out1,out2" || strings.Join(stderr, ",") != "err1" {
			t.Fatalf("driver got stdout %q, stderr %q, want out1,out2 and err1", stdout, stderr)
		}
		env, _ := os.ReadFile(out + ".env")
		if want := fmt.Sprintf("CONTAINER_ID=%s\nCONTAINER_NAMESPACE=%s\nPATH=\n", c.ID(), namespace); string(env) != want {
			t.Fatalf("driver environment %q, want %q", env, want)
		}
	})

	t.Run("BinaryKilledContainer", func(t *testing.T) {
		// A container killed while it runs ends its driver too.
		out := filepath.Join(t.TempDir(), "driver.log")
		c := e.container(t, "logkilled", oci.WithProcessArgs("/bin/sh", "-c", "echo started; sleep 60"))
		task, statusC := e.start(t, c, cio.BinaryIO(driver, map[string]string{"out": out}))
		pid := readPid(t, out+".pid")
		waitFile(t, out, "stdout: started\n")
		if err := task.Kill(e.ctx, syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		waitExit(t, statusC)
		waitGone(t, pid)
		if _, err := task.Delete(e.ctx); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})

	t.Run("Terminal", func(t *testing.T) {
		// A terminal's output goes to the file, or to the driver's fd 3.
		dir := t.TempDir()
		fileURI, err := url.Parse("file://" + filepath.Join(dir, "tty.log"))
		if err != nil {
			t.Fatal(err)
		}
		driverOut := filepath.Join(dir, "driver.log")
		for name, creator := range map[string]cio.Creator{
			"file":   cio.TerminalLogURI(fileURI),
			"binary": cio.TerminalBinaryIO(driver, map[string]string{"out": driverOut}),
		} {
			c := e.container(t, "logtty-"+name, oci.WithTTY, oci.WithProcessArgs("/bin/sh", "-c", "echo hi"))
			task, statusC := e.start(t, c, creator)
			if st := waitExit(t, statusC); st.ExitCode() != 0 {
				t.Fatalf("%s: exit %d", name, st.ExitCode())
			}
			if name == "binary" {
				waitGone(t, readPid(t, driverOut+".pid"))
			}
			if _, err := task.Delete(e.ctx); err != nil {
				t.Fatalf("%s: delete: %v", name, err)
			}
		}
		if b, err := os.ReadFile(fileURI.Path); err != nil || string(b) != "hi\r\n" {
			t.Errorf("terminal to file: %q %v, want hi and a terminal's line end", b, err)
		}
		// (The driver's line scanner drops the \r.)
		if b, err := os.ReadFile(driverOut); err != nil || string(b) != "stdout: hi\n" {
			t.Errorf("terminal to driver: %q %v, want its stdout to get hi", b, err)
		}
	})

	t.Run("BadURIs", func(t *testing.T) {
		logDir := t.TempDir()
		for _, c := range []struct {
			name  string
			uri   string
			class func(error) bool
			want  string
		}{
			{"UnknownScheme", "syslog:///var/log/x", errdefs.IsInvalidArgument, `unknown scheme "syslog"`},
			{"RelativeFile", "file://" + strings.TrimPrefix(logDir, "/") + "/x.log", errdefs.IsInvalidArgument, "must be absolute"},
			{"MissingBinary", "binary:///nonexistent/logdriver", errdefs.IsFailedPrecondition, "no such file"},
		} {
			t.Run(c.name, func(t *testing.T) {
				u, err := url.Parse(c.uri)
				if err != nil {
					t.Fatal(err)
				}
				ctr := e.container(t, "baduri-"+strings.ToLower(c.name), oci.WithProcessArgs("/bin/true"))
				_, err = ctr.NewTask(e.ctx, cio.LogURI(u))
				if err == nil || !c.class(err) || !strings.Contains(err.Error(), c.want) {
					t.Fatalf("new task with %s: %v, want an error of the right class saying %q", c.uri, err, c.want)
				}
				assertNothingLeft(t, ctr.ID())
				if _, err := ctr.Task(e.ctx, nil); !errdefs.IsNotFound(err) {
					t.Fatalf("task after the failed create: %v, want NotFound", err)
				}
			})
		}
		if entries, _ := os.ReadDir(logDir); len(entries) != 0 {
			t.Fatalf("a bad URI created %v", entries)
		}
	})
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	// The shim waits for the driver to be ready, and the driver writes its
	// pid before that: it is there once the task exists.
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("driver pid: %v", err)
	}
	pid, err := strconv.Atoi(string(b))
	if err != nil {
		t.Fatal(err)
	}
	return pid
}

// waitGone waits until process pid no longer exists (the shim reaps its
// children, so an exited driver disappears).
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("logging driver %d still runs %v after the container ended", pid, ioTimeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func waitFile(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for {
		b, _ := os.ReadFile(path)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %q, want %q", path, b, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
