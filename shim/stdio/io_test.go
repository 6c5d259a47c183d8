package stdio

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	runc "github.com/containerd/go-runc"
)

// readerTimeout bounds a read that would otherwise hang forever when the
// output copy has died (the failure these tests look for).
const readerTimeout = 20 * time.Second

// fifoReader is the client side of an output fifo, opened as containerd's
// cio opens it.
type fifoReader struct {
	t   *testing.T
	rc  io.ReadCloser
	buf []byte
}

func openReader(t *testing.T, path string) *fifoReader {
	t.Helper()
	rc, err := fifo.OpenFifo(context.Background(), path, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	return &fifoReader{t: t, rc: rc}
}

// readLines reads until it holds at least n newlines (n < 0: until EOF),
// keeping every byte it read, then closes the fifo.
func (r *fifoReader) readLines(n int) string {
	r.t.Helper()
	done := make(chan error, 1)
	go func() {
		b := make([]byte, 512)
		for n < 0 || bytes.Count(r.buf, []byte("\n")) < n {
			k, err := r.rc.Read(b)
			r.buf = append(r.buf, b[:k]...)
			if err == io.EOF {
				done <- nil
				return
			}
			if err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			r.t.Fatalf("reading the fifo: %v", err)
		}
	case <-time.After(readerTimeout):
		r.rc.Close()
		r.t.Fatalf("output stopped before the end within %v: the shim stopped copying", readerTimeout)
	}
	r.rc.Close()
	return string(r.buf)
}

// runWithIO starts sh -c script with p's pipes, as runsc create would,
// and starts p's copies.
func runWithIO(t *testing.T, p *IO, script string) (exited <-chan error) {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", script)
	p.RuncIO().Set(cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := p.RuncIO().(runc.StartCloser).CloseAfterStart(); err != nil {
		t.Fatal(err)
	}
	if err := p.CopyPipes(context.Background()); err != nil {
		t.Fatal(err)
	}
	ch := make(chan error, 1)
	go func() { ch <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill() })
	return ch
}

// checkSequence asserts that out is "<prefix>first\n" ... "<prefix>last\n":
// nothing missing, nothing repeated, in order.
func checkSequence(t *testing.T, out, prefix string, first, last int) {
	t.Helper()
	var want strings.Builder
	for i := first; i <= last; i++ {
		fmt.Fprintf(&want, "%s%d\n", prefix, i)
	}
	if out == want.String() {
		return
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	next := first
	for _, l := range lines {
		if l != fmt.Sprintf("%s%d", prefix, next) {
			t.Fatalf("after %s%d got %q (%d lines in all, want %d..%d, no gap, no duplicate)", prefix, next-1, l, len(lines), first, last)
		}
		next++
	}
	t.Fatalf("output ends at %s%d, want up to %d", prefix, next-1, last)
}

func newFifoIO(t *testing.T, sio Stdio) *IO {
	t.Helper()
	p, err := Open(context.Background(), Config{ID: "c", Namespace: "ns", Stdio: sio})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// TestOutputSurvivesReaderRestart: a process writing a numbered line
// every 50 ms while its reader closes the fifo and, later, opens it again
// (as containerd does when it restarts): the two readers together see
// every line once, in order.
func TestOutputSurvivesReaderRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "stdout")
	first := openReader(t, path)
	p := newFifoIO(t, Stdio{Stdout: path})
	exited := runWithIO(t, p, `i=0; while [ $i -lt 80 ]; do echo line $i; i=$((i+1)); sleep 0.05; done`)

	before := first.readLines(10)
	// Lines go on being written while no one reads.
	time.Sleep(500 * time.Millisecond)
	after := openReader(t, path).readLines(-1)
	if err := <-exited; err != nil {
		t.Fatalf("writer: %v", err)
	}
	checkSequence(t, before+after, "line ", 0, 79)
}

// TestBlockedWriterResumes: a process writing more than the pipes hold
// blocks while no one reads, and finishes once a reader is back, with
// nothing lost.
func TestBlockedWriterResumes(t *testing.T) {
	const lines = 40000 // about 230 KB: more than the pipe and the fifo hold (64 KB each)
	path := filepath.Join(t.TempDir(), "stdout")
	first := openReader(t, path)
	p := newFifoIO(t, Stdio{Stdout: path})
	exited := runWithIO(t, p, fmt.Sprintf("seq 1 %d", lines))

	before := first.readLines(1000)
	// With no reader the output fills the fifo, then the pipe; the writer
	// cannot finish.
	time.Sleep(300 * time.Millisecond)
	select {
	case err := <-exited:
		t.Fatalf("writer finished (%v) though its output cannot all be buffered", err)
	default:
	}
	after := openReader(t, path).readLines(-1)
	if err := <-exited; err != nil {
		t.Fatalf("writer: %v", err)
	}
	checkSequence(t, before+after, "", 1, lines)
}

// TestLogFile: file:// appends stdout and stderr to one file, creating it
// and its directory, keeping what was there.
func TestLogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "logs", "c.log")
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("earlier\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	uri := "file://" + path
	p := newFifoIO(t, Stdio{Stdout: uri, Stderr: uri})
	exited := runWithIO(t, p, "echo out; echo err >&2")
	if err := <-exited; err != nil {
		t.Fatal(err)
	}
	p.Close()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	// stdout and stderr are copied concurrently: either may come first.
	if string(b) != "earlier\nout\nerr\n" && string(b) != "earlier\nerr\nout\n" {
		t.Fatalf("log file holds %q, want the earlier line, then out and err", b)
	}

	fresh := filepath.Join(t.TempDir(), "new", "dir", "c.log")
	p = newFifoIO(t, Stdio{Stdout: "file://" + fresh, Stderr: "file://" + fresh})
	if err := <-runWithIO(t, p, "echo hi"); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if b, err := os.ReadFile(fresh); err != nil || string(b) != "hi\n" {
		t.Fatalf("new log file: %q %v", b, err)
	}
}

// TestBadStdio: destinations the shim cannot use fail before anything is
// started, with an error class containerd passes on.
func TestBadStdio(t *testing.T) {
	dir := t.TempDir()
	notExec := filepath.Join(dir, "driver")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name  string
		sio   Stdio
		class func(error) bool
		want  string
	}{
		{"unknown scheme", Stdio{Stdout: "syslog:///x", Stderr: "syslog:///x"}, errdefs.IsInvalidArgument, `unknown scheme "syslog"`},
		{"relative file", Stdio{Stdout: "file://x.log", Stderr: "file://x.log"}, errdefs.IsInvalidArgument, "must be absolute"},
		{"opaque file", Stdio{Stdout: "file:x.log"}, errdefs.IsInvalidArgument, "must be absolute"},
		{"relative binary", Stdio{Stdout: "binary://driver"}, errdefs.IsInvalidArgument, "must be absolute"},
		{"relative fifo", Stdio{Stdout: "out"}, errdefs.IsInvalidArgument, "absolute fifo path"},
		{"two destinations", Stdio{Stdout: "file:///a.log", Stderr: "file:///b.log"}, errdefs.IsInvalidArgument, "differ"},
		{"stdin with a file", Stdio{Stdin: "/in", Stdout: "file:///a.log"}, errdefs.IsInvalidArgument, "stdin"},
		{"missing binary", Stdio{Stdout: "binary:///nonexistent/driver"}, errdefs.IsFailedPrecondition, "no such file"},
		{"binary not executable", Stdio{Stdout: "binary://" + notExec}, errdefs.IsFailedPrecondition, "not an executable"},
		{"missing fifo", Stdio{Stdout: filepath.Join(dir, "nofifo")}, errdefs.IsFailedPrecondition, "no such file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Open(context.Background(), Config{ID: "c", Namespace: "ns", Stdio: c.sio, Monitor: runc.Monitor})
			if err == nil || !c.class(err) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Open(%+v): %v, want an error of the right class saying %q", c.sio, err, c.want)
			}
		})
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("bad stdio left files behind: %v", entries)
	}
}

// TestLogDriverStoppedAtClose: a logging driver that does not exit when
// its streams end is stopped (SIGTERM) by Close, so Delete leaves no
// driver behind. It also checks the driver's contract: its arguments from
// the URI's query, its environment, and the process's output on fd 3.
func TestLogDriverStoppedAtClose(t *testing.T) {
	dir := t.TempDir()
	driver := filepath.Join(dir, "driver")
	// Records its arguments and environment, copies fd 3 (stdout) to a
	// file, says it is ready (closes fd 5), then ignores the end of its
	// streams.
	script := fmt.Sprintf(`#!/bin/sh
echo "$@" > %[1]s/args
echo "$CONTAINER_ID $CONTAINER_NAMESPACE ${HOME-no HOME}" > %[1]s/env
echo $$ > %[1]s/pid
cat <&3 5>&- > %[1]s/stdout &
exec 5>&-
exec sleep 1000
`, dir)
	if err := os.WriteFile(driver, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	uri := "binary://" + driver + "?b=2&a=1"
	p, err := Open(context.Background(), Config{ID: "c1", Namespace: "ns1", Stdio: Stdio{Stdout: uri, Stderr: uri}, Monitor: runc.Monitor})
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/sh", "-c", "echo to the driver")
	p.RuncIO().Set(cmd)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if err := p.RuncIO().(runc.StartCloser).CloseAfterStart(); err != nil {
		t.Fatal(err)
	}
	pidText, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(pidText), &pid)
	p.Close()
	// Close waited for the driver: it is gone (the monitor reaped it).
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("driver %d still runs after Close", pid)
	}
	for name, want := range map[string]string{
		"args":   "a 1 b 2\n",
		"env":    "c1 ns1 no HOME\n", // only CONTAINER_ID and CONTAINER_NAMESPACE
		"stdout": "to the driver\n",
	} {
		if b, _ := os.ReadFile(filepath.Join(dir, name)); string(b) != want {
			t.Errorf("driver %s: %q, want %q", name, b, want)
		}
	}
}

// TestLogDriverNeverReady: a driver that never closes fd 5 fails the
// process's stdio with FailedPrecondition instead of hanging Create, and
// is stopped.
func TestLogDriverNeverReady(t *testing.T) {
	defer func(d time.Duration) { driverReadyTimeout = d }(driverReadyTimeout)
	driverReadyTimeout = time.Second
	dir := t.TempDir()
	driver := filepath.Join(dir, "driver")
	if err := os.WriteFile(driver, []byte(fmt.Sprintf("#!/bin/sh\necho $$ > %s/pid\nexec sleep 1000\n", dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	uri := "binary://" + driver
	_, err := Open(context.Background(), Config{ID: "c", Namespace: "ns", Stdio: Stdio{Stdout: uri, Stderr: uri}, Monitor: runc.Monitor})
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), "did not close fd 5") {
		t.Fatalf("driver never ready: %v, want FailedPrecondition", err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "pid"))
	if err != nil {
		t.Fatal(err)
	}
	var pid int
	fmt.Sscan(string(b), &pid)
	if err := syscall.Kill(pid, 0); err == nil {
		t.Fatalf("driver %d still runs", pid)
	}
}
