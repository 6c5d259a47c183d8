package runsc

import (
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
)

// requireRunsc needs the runsc RUNSC names (internal/ctrdaemon puts it
// first on PATH), else the one on PATH.
func requireRunsc(t *testing.T) {
	t.Helper()
	if err := ctrdaemon.BinariesErr(); err != nil {
		t.Fatal(err)
	}
	if _, err := exec.LookPath("runsc"); err != nil || os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("runsc and root are required in CI")
		}
		t.Skip("needs runsc and root")
	}
}

func newTest(t *testing.T, command string) (*Runsc, string) {
	dir := t.TempDir()
	r := New(command, filepath.Join(dir, "root"), filepath.Join(dir, "log.json"), "c1", map[string]string{"network": "none"})
	r.Monitor = runc.Monitor // tests are not subreapers; plain cmd.Wait is right here
	return r, dir
}

func TestNewFlagsSubstituteID(t *testing.T) {
	r := New("", "/r", "/l", "abc", map[string]string{"debug-log": "/tmp/%ID%/", "network": "none"})
	got := strings.Join(r.globalArgs(), " ")
	want := "--root /r --log /l --log-format json --debug-log=/tmp/abc/ --network=none"
	if got != want || r.Command != "runsc" {
		t.Fatalf("args %q (command %q), want %q", got, r.Command, want)
	}
}

func TestMissingBinaryIsClear(t *testing.T) {
	r, dir := newTest(t, "/nonexistent/runsc")
	err := r.Create(context.Background(), "c1", dir, &CreateOpts{})
	var rerr *Error
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), `"/nonexistent/runsc" not found`) {
		t.Fatalf("error %v, want a runsc Error naming the missing binary", err)
	}
	if !errdefs.IsFailedPrecondition(err) {
		t.Fatalf("error %v is not a FailedPrecondition", err)
	}
}

func TestFailureCarriesRunscMessage(t *testing.T) {
	requireRunsc(t)
	r, dir := newTest(t, "")
	err := r.Create(context.Background(), "c1", filepath.Join(dir, "nobundle"), &CreateOpts{})
	if err == nil || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("error %v, want runsc's message about the missing config.json", err)
	}
	err = r.Start(context.Background(), "nosuch")
	if err == nil || !strings.Contains(err.Error(), "loading container") || strings.Contains(err.Error(), "config.json") {
		t.Fatalf("error %v, want runsc's own (latest) message", err)
	}
}

// fakeRunsc writes a stand-in for runsc that answers every command with
// script (a shell snippet; $log is the --log file, $8 the subcommand).
func fakeRunsc(t *testing.T, script string) *Runsc {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "runsc")
	text := "#!/bin/sh\nlog=$4\n" + script + "\n"
	if err := os.WriteFile(bin, []byte(text), 0o755); err != nil {
		t.Fatal(err)
	}
	r, _ := newTest(t, bin)
	return r
}

// runsc's "no such process" (the process already exited) is NotFound:
// containerd and CRI's stop treat that kill as done.
func TestKillOfExitedProcessIsNotFound(t *testing.T) {
	r := fakeRunsc(t, `echo '{"msg":"signaling container \"c1\": signaling process in container \"c1\" PID 0: no such process","level":"error"}' >> $log; exit 128`)
	err := r.Kill(context.Background(), "c1", 15, true, 0)
	if !errdefs.IsNotFound(err) || !strings.Contains(err.Error(), "no such process") {
		t.Fatalf("kill: %v, want NotFound carrying runsc's message", err)
	}
	r = fakeRunsc(t, `echo '{"msg":"cannot signal container \"c1\" in state created","level":"error"}' >> $log; exit 128`)
	if err := r.Kill(context.Background(), "c1", 15, false, 0); err == nil || errdefs.IsNotFound(err) {
		t.Fatalf("kill refused for another reason: %v, want an error that is not NotFound", err)
	}
}

func TestWaitAndStateParseRunscOutput(t *testing.T) {
	r := fakeRunsc(t, `case "$8" in
wait) echo '{"id":"c1","exitStatus":137}' ;;
state) echo '{"ociVersion":"1.0.2-dev","id":"c1","status":"running","pid":42,"bundle":"/b"}' ;;
esac`)
	if status, err := r.Wait(context.Background(), "c1"); err != nil || status != 137 {
		t.Fatalf("wait: %d, %v; want 137", status, err)
	}
	st, err := r.State(context.Background(), "c1")
	if err != nil || st.Status != "running" || st.Pid != 42 {
		t.Fatalf("state: %+v, %v", st, err)
	}
	r = fakeRunsc(t, `echo '{"msg":"loading container: container \"c1\" does not exist","level":"error"}' >> $log; exit 128`)
	if _, err := r.State(context.Background(), "c1"); !IsNotExist(err) {
		t.Fatalf("state of an unknown container: %v, want IsNotExist", err)
	}
	r = fakeRunsc(t, `echo 'garbage'`)
	if _, err := r.Wait(context.Background(), "c1"); err == nil {
		t.Fatal("wait with unparsable output: no error")
	}
}

// argAfter is a shell snippet that sets variable v to the argument after flag.
func argAfter(v, flag string) string {
	return `prev=; for a; do [ "$prev" = ` + flag + ` ] && ` + v + `=$a; prev=$a; done; `
}

// An exec whose process exits at once is started, and the waiter Exec
// reports is the shim's own child. Through `runsc exec --detach` such an
// exec failed now and then on a loaded node: its parent polls for the pid
// file, then checks on its own that the waiter lives, and when the process
// ends in between it reaps the waiter, loses the status and exits 128
// ("Unexpected error waiting for PID file, err: process N has terminated").
// The stand-in fails a detached exec as that race does.
func TestExecOfProcessExitingAtOnce(t *testing.T) {
	dir := t.TempDir()
	r := fakeRunsc(t, `case " $* " in *" --detach "*) exit 128;; esac
`+argAfter("pidfile", "--pid-file")+argAfter("internal", "--internal-pid-file")+`
echo 42 > "$internal"; echo $$ > "$pidfile"; exit 7`)
	for i := 0; i < 20; i++ {
		opts := &ExecOpts{PidFile: filepath.Join(dir, "p.pid"), InternalPidFile: filepath.Join(dir, "p.internal.pid")}
		waiter, master, err := r.Exec(context.Background(), "c1", specs.Process{Args: []string{"true"}}, opts)
		if err != nil || master != nil {
			t.Fatalf("exec %d: %v (terminal %v), want no error and no terminal", i, err, master)
		}
		if written, _ := ReadPidFile(opts.PidFile); waiter != written {
			t.Fatalf("exec %d: waiter %d, but runsc's pid file names %d", i, waiter, written)
		}
		os.Remove(opts.PidFile)
	}
}

// A waiter that exits before it wrote the pid file failed to exec: the
// error carries its status and runsc's message.
func TestExecFailureBeforePidFile(t *testing.T) {
	dir := t.TempDir()
	r := fakeRunsc(t, `echo '{"msg":"executing processes for container: no such file","level":"error"}' >> $log; exit 128`)
	_, _, err := r.Exec(context.Background(), "c1", specs.Process{Args: []string{"nosuch"}}, &ExecOpts{PidFile: filepath.Join(dir, "p.pid")})
	var rerr *Error
	if !errors.As(err, &rerr) || !strings.Contains(err.Error(), "executing processes for container: no such file") || !strings.Contains(rerr.Err.Error(), "128") {
		t.Fatalf("exec: %v, want runsc's message and status 128", err)
	}
}

// A request that ends while the waiter has not started the process kills
// the waiter.
func TestExecCancelledKillsWaiter(t *testing.T) {
	dir := t.TempDir()
	pids := filepath.Join(dir, "waiter")
	r := fakeRunsc(t, "echo $$ > "+pids+"; exec sleep 1000")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	if _, _, err := r.Exec(ctx, "c1", specs.Process{}, &ExecOpts{PidFile: filepath.Join(dir, "p.pid")}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("exec: %v, want the deadline", err)
	}
	b, _ := os.ReadFile(pids)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for i := 0; syscall.Kill(pid, 0) == nil; i++ {
		if i == 100 {
			t.Fatalf("waiter %d still runs", pid)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A terminal exec runs its waiter as the shim's child, as one without:
// never `runsc exec --detach`, whose parent loses the status of a process
// that exits at once (the stand-in fails a detached exec as that race does)
// and drops every argument containing "detach", here the id and the root.
// The waiter has the pty's replica as its stdio and controlling terminal,
// the caller its master, which reads EOF once the waiter is gone.
func TestTerminalExec(t *testing.T) {
	dir := t.TempDir()
	r := fakeRunsc(t, `case " $* " in *" --detach "*|*" --console-socket "*) exit 128;; esac
for a; do id=$a; done
`+argAfter("pidfile", "--pid-file")+argAfter("internal", "--internal-pid-file")+argAfter("root", "--root")+`
read -r _ _ _ _ _ sid tty _ < /proc/$$/stat
echo 42 > "$internal"; echo $$ > "$pidfile"
[ -t 0 ] && [ -t 1 ] && [ -t 2 ] && [ "$sid" = $$ ] && [ "$tty" != 0 ] && echo "$id in $root on a terminal"
exit 7`)
	r.Root = filepath.Join(dir, "detach-root")
	for i := 0; i < 10; i++ {
		opts := &ExecOpts{PidFile: filepath.Join(dir, "p.pid"), InternalPidFile: filepath.Join(dir, "p.internal.pid"), Terminal: true}
		waiter, master, err := r.Exec(context.Background(), "detach-c1", specs.Process{Terminal: true, Args: []string{"true"}}, opts)
		if err != nil {
			t.Fatalf("exec %d: %v", i, err)
		}
		if written, _ := ReadPidFile(opts.PidFile); waiter != written {
			t.Fatalf("exec %d: waiter %d, but runsc's pid file names %d", i, waiter, written)
		}
		out, err := io.ReadAll(master)
		if err != nil && !errors.Is(err, syscall.EIO) { // EIO: the replica's last holder closed it
			t.Fatalf("exec %d: reading the terminal: %v", i, err)
		}
		master.Close()
		if want := "detach-c1 in " + r.Root + " on a terminal\r\n"; string(out) != want {
			t.Fatalf("exec %d: terminal output %q, want %q", i, out, want)
		}
		os.Remove(opts.PidFile)
	}
}
