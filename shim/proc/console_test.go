package proc

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// hangGuard is how long a test lets a call block before it calls it hung:
// far above the terminalWait the tests set.
const hangGuard = 30 * time.Second

func shortTerminalWait(t *testing.T) {
	t.Helper()
	old := terminalWait
	terminalWait = 100 * time.Millisecond
	t.Cleanup(func() { terminalWait = old })
}

// returnsInTime runs call and returns its error, failing the test if call
// is still blocked after hangGuard.
func returnsInTime(t *testing.T, call func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- call() }()
	select {
	case err := <-done:
		return err
	case <-time.After(hangGuard):
		t.Fatalf("still waiting for the terminal after %v", hangGuard)
		return nil
	}
}

func newBundle(t *testing.T) string {
	t.Helper()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	return bundle
}

// consoleSocket is the console socket runsc was given by the call to
// runsc cmd.
func (f *fakePod) consoleSocket(t *testing.T, cmd string) string {
	t.Helper()
	for _, c := range f.calls(t) {
		args := strings.Fields(c)
		if len(args) == 0 || args[0] != cmd {
			continue
		}
		for i, a := range args[:len(args)-1] {
			if a == "--console-socket" {
				return args[i+1]
			}
		}
	}
	t.Fatalf("runsc %s was given no console socket: calls %q", cmd, f.calls(t))
	return ""
}

// checkNoTerminal checks the error of a call whose runsc cmd exited 0
// without sending the terminal: one line, FailedPrecondition, naming runsc's
// command and the console socket, which is gone.
func checkNoTerminal(t *testing.T, f *fakePod, err error, cmd string) {
	t.Helper()
	sock := f.consoleSocket(t, cmd)
	switch {
	case err == nil:
		t.Fatal("succeeded without a terminal")
	case !errdefs.IsFailedPrecondition(err):
		t.Errorf("error %q, want FailedPrecondition", err)
	case strings.Contains(err.Error(), "\n"):
		t.Errorf("error %q is not one line", err)
	case !strings.Contains(err.Error(), "runsc "+cmd) || !strings.Contains(err.Error(), sock):
		t.Errorf("error %q, want it to name runsc %s and the console socket %s", err, cmd, sock)
	}
	if _, err := os.Stat(filepath.Dir(sock)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("console socket's directory left behind: %v", err)
	}
}

// runsc create exits 0 without connecting to the console socket (as runsc
// does for a sandbox whose spec has no process.terminal): Create fails
// instead of hanging, and leaves no container in runsc.
func TestCreateWithoutTerminal(t *testing.T) {
	shortTerminalWait(t)
	for name, app := range map[string]bool{"init": false, "app": true} {
		t.Run(name, func(t *testing.T) {
			f := newFakePod(t)
			cfg := ContainerConfig{ID: "c", Namespace: "ns", Bundle: newBundle(t), Runtime: f.rt, Stdio: stdio.Stdio{Terminal: true}}
			err := returnsInTime(t, func() error {
				var err error
				if app {
					_, err = NewApp(context.Background(), cfg, func(p Process, status int) { p.SetExited(status) })
				} else {
					_, err = NewInit(context.Background(), cfg)
				}
				return err
			})
			checkNoTerminal(t, f, err, "create")
			if calls := f.calls(t); !hasCall(calls, "delete --force c") {
				t.Errorf("runsc calls %q, want delete --force c after the failed create", calls)
			}
			if _, err := os.Stat(filepath.Join(f.dir, "state")); err == nil {
				t.Error("runsc still knows the container")
			}
		})
	}
}

// A terminal exec whose stdin cannot be opened once runsc exec'd it:
// Start fails, the process runsc exec'd is killed, its waiters are
// released and the pid files runsc wrote are gone.
func TestTerminalExecFailingAfterRunscExec(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	c := runningInit(t, f)
	stdin := filepath.Join(t.TempDir(), "stdin") // never made
	e, err := NewExec(ctx, c, ExecConfig{ID: "e", Spec: specs.Process{Terminal: true, Args: []string{"sh"}}, Stdio: stdio.Stdio{Terminal: true, Stdin: stdin}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err == nil || !strings.Contains(err.Error(), stdin) {
		t.Fatalf("start: %v, want the failure to open %s", err, stdin)
	}
	if calls := f.calls(t); !hasCall(calls, "kill --pid 7 c 9") {
		t.Errorf("runsc calls %q, want kill --pid 7 c 9 of the exec'd process", calls)
	}
	checkStartFailed(t, e)
	checkNoExecFiles(t, c, "after the failed start")
	if err := e.Delete(ctx); err != nil {
		t.Fatal(err)
	}
}

// A terminal exec runs `runsc exec` as the shim's own child on a pty the
// shim made, as it runs one without a terminal: never `--detach`, whose
// parent loses a race with a process that exits at once and drops every
// argument containing "detach" (ids and paths included), and no console
// socket. Its pid files are its own, and go with its Delete.
func TestTerminalExecRunsWithoutDetach(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	c, err := NewInit(ctx, ContainerConfig{ID: "detach-c", Namespace: "ns", Bundle: newBundle(t), Runtime: f.rt})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(ctx); err != nil {
		t.Fatal(err)
	}
	e, err := NewExec(ctx, c, ExecConfig{ID: "detach-probe", Spec: specs.Process{Terminal: true, Args: []string{"sh"}}, Stdio: stdio.Stdio{Terminal: true}}, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(ctx); err != nil {
		t.Fatal(err)
	}
	var execArgs []string
	for _, call := range f.calls(t) {
		if args := strings.Fields(call); args[0] == "exec" {
			execArgs = args
		}
	}
	if len(execArgs) == 0 || execArgs[len(execArgs)-1] != "detach-c" {
		t.Fatalf("runsc calls %q, want an exec in detach-c", f.calls(t))
	}
	for _, a := range execArgs {
		if a == "--detach" || a == "--console-socket" {
			t.Errorf("runsc exec was given %s: %q", a, execArgs)
		}
	}
	if e.Pid() != 7 || len(execFiles(t, c)) != 2 {
		t.Errorf("pid %d, exec files %q; want 7 and its two pid files", e.Pid(), execFiles(t, c))
	}
	if err := e.Resize(console.WinSize{Width: 90, Height: 30}); err != nil {
		t.Errorf("resize: %v", err)
	}
	e.SetExited(0)
	if err := e.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	checkNoExecFiles(t, c, "after DeleteProcess")
}
