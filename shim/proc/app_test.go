package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// fakeRunsc is a stand-in for runsc that behaves as runsc does for an app
// container of a pod, with the pod's sandbox under the test's control:
// `wait` blocks until the test writes an exit status (or makes it fail),
// any command fails when the file fail-<command> exists, create and
// restore write the pid in sandbox-pid (4242 without it),
// `kill` of a running container makes it exit with 128+signal, `kill` of a
// created one fails as runsc's does. `exec` writes its pid files (after
// the seconds in exec-delay, if any) and exits 0, or fails without them
// for a process spec naming /no/such/binary. Like a runsc that has no
// terminal to send, it never connects to a console socket. Every call is
// logged.
const fakeRunscScript = `#!/bin/sh
dir=%s
echo "$*" >> $dir/calls
while [ $# -gt 0 ]; do case "$1" in --root|--log|--log-format) shift 2;; --*) shift;; *) break;; esac; done
cmd=$1; shift
[ -f $dir/fail-$cmd ] && { echo "$cmd: injected failure" >&2; exit 1; }
state() { cat $dir/state 2>/dev/null; }
case $cmd in
create|restore)
	# The guard (create's parent, see TestMain) passes its spec in its environment.
	tr '\0' '\n' < /proc/$PPID/environ | sed -n 's/^GVISOR_CONTAINERD_SHIM_CREATE_GUARD=//p' > $dir/guard
	pid=$(cat $dir/sandbox-pid 2>/dev/null || echo 4242)
	[ -f $dir/no-pid-file ] || while [ $# -gt 1 ]; do [ "$1" = --pid-file ] && echo $pid > "$2"; shift; done
	[ $cmd = create ] && echo created > $dir/state || echo running > $dir/state ;;
start|resume)
	echo running > $dir/state ;;
pause)
	echo paused > $dir/state ;;
checkpoint)
	echo stopped > $dir/state ;;
wait)
	while [ -d $dir ] && [ ! -s $dir/exit ] && [ ! -f $dir/wait-fails ]; do sleep 0.01; done
	if [ -s $dir/exit ]; then echo stopped > $dir/state; echo "{\"id\":\"$1\",\"exitStatus\":$(cat $dir/exit)}"; exit 0; fi
	echo 'waiting on container: urpc method "containerManager.Wait" failed: EOF' >&2; exit 1 ;;
state)
	[ -f $dir/state ] || { echo "loading container: container \"$1\" does not exist" >&2; exit 1; }
	st=$(state); [ -f $dir/sandbox-gone ] && st=stopped
	echo "{\"id\":\"$1\",\"status\":\"$st\",\"pid\":4242}" ;;
exec)
	# Like runsc's, the waiter writes its pid files only once the process runs.
	[ -f $dir/exec-delay ] && sleep $(cat $dir/exec-delay)
	pidf= ipidf=
	while [ $# -gt 1 ]; do case "$1" in
	--process) grep -q /no/such/binary "$2" && { echo "exec: no such file or directory: /no/such/binary" >&2; exit 1; } ;;
	--pid-file) pidf=$2;; --internal-pid-file) ipidf=$2;; esac; shift; done
	# As runsc does, the internal pid first: the pid file tells the shim both are there.
	[ -z "$ipidf" ] || echo 7 > "$ipidf"
	[ -z "$pidf" ] || { echo 4343 > "$pidf.tmp"; mv "$pidf.tmp" "$pidf"; } ;;
kill)
	# An exec'd process: the fake has nothing of it to end.
	[ "$1" = --pid ] && exit 0
	[ -f $dir/sandbox-gone ] && { echo "connecting to control server at PID 4242: connection refused" >&2; exit 1; }
	[ "$1" = --all ] && shift
	case $(state) in
	running|paused) echo $((128 + $2)) > $dir/exit ;;
	created) echo "cannot signal container \"$1\" in state created" >&2; exit 1 ;;
	*) echo "signaling container: no such process" >&2; exit 1 ;;
	esac ;;
delete)
	rm -f $dir/state ;;
ps)
	[ "$(state)" = running ] || { echo "cannot get processes of container in state stopped" >&2; exit 1; }
	echo '[1,2]' ;;
*)
	echo "unexpected command $cmd" >&2; exit 1 ;;
esac
`

type fakePod struct {
	dir string
	rt  *runsc.Runsc

	mu    sync.Mutex
	exits []int // what the App reported, in order
}

func newFakePod(t *testing.T) *fakePod {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "runsc")
	if err := os.WriteFile(bin, []byte(fmt.Sprintf(fakeRunscScript, dir)), 0o755); err != nil {
		t.Fatal(err)
	}
	rt := runsc.New(bin, filepath.Join(dir, "root"), "", "app", nil)
	rt.Monitor = runc.Monitor // the test is no subreaper
	return &fakePod{dir: dir, rt: rt}
}

// newApp creates an app container "app" in the fake pod.
func (f *fakePod) newApp(t *testing.T) *App {
	t.Helper()
	bundle := t.TempDir()
	a, err := NewApp(context.Background(), ContainerConfig{ID: "app", Namespace: "ns", Bundle: bundle, Runtime: f.rt},
		func(p Process, status int) {
			f.mu.Lock()
			f.exits = append(f.exits, status)
			f.mu.Unlock()
			p.SetExited(status)
		})
	if err != nil {
		t.Fatal(err)
	}
	if a.Pid() != 4242 {
		t.Fatalf("pid %d, want the sandbox's from the pid file", a.Pid())
	}
	// Its runsc wait ends with the test.
	t.Cleanup(func() {
		a.op.Lock()
		a.stopWait()
		a.op.Unlock()
	})
	return a
}

func (f *fakePod) reported() []int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]int(nil), f.exits...)
}

// calls returns the runsc subcommands run so far, without global flags.
func (f *fakePod) calls(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "calls"))
	if err != nil {
		t.Fatal(err)
	}
	var calls []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if i := strings.Index(line, f.dir+"/root "); i >= 0 {
			line = line[i+len(f.dir+"/root "):]
		}
		calls = append(calls, line)
	}
	return calls
}

func (f *fakePod) touch(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func waitExited(t *testing.T, p Process) {
	t.Helper()
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported within 10s")
	}
}

func hasCall(calls []string, prefix string) bool {
	for _, c := range calls {
		if strings.HasPrefix(c, prefix) {
			return true
		}
	}
	return false
}

func TestAppExitFromRunscWait(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	a := f.newApp(t)
	if s := status(t, a); s != Created {
		t.Fatalf("status %q, want created", s)
	}
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if s := status(t, a); s != Running {
		t.Fatalf("status %q, want running", s)
	}
	if pids, err := a.Ps(ctx); err != nil || len(pids) != 2 {
		t.Fatalf("Ps: %v, %v", pids, err)
	}
	if err := a.Delete(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("delete while running: %v, want FailedPrecondition", err)
	}
	for name, err := range map[string]error{
		"pause":      a.Pause(ctx),
		"resume":     a.Resume(ctx),
		"checkpoint": a.Checkpoint(ctx, t.TempDir()),
	} {
		if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "whole") {
			t.Errorf("%s: %v, want NotImplemented saying runsc acts on the whole sandbox", name, err)
		}
	}

	if err := a.Kill(ctx, uint32(syscall.SIGTERM), true); err != nil {
		t.Fatal(err)
	}
	waitExited(t, a)
	if got := f.reported(); len(got) != 1 || got[0] != 143 {
		t.Fatalf("reported exits %v, want [143] from runsc wait", got)
	}
	if s := status(t, a); s != Stopped || a.ExitStatus() != 143 || a.ExitedAt().IsZero() {
		t.Fatalf("after exit: %q, %d at %v", s, a.ExitStatus(), a.ExitedAt())
	}
	if err := a.Kill(ctx, uint32(syscall.SIGKILL), true); !errdefs.IsNotFound(err) {
		t.Errorf("kill after exit: %v, want NotFound", err)
	}
	if pids, err := a.Ps(ctx); err != nil || len(pids) != 0 {
		t.Errorf("Ps after exit: %v, %v; want none and no error", pids, err)
	}
	if err := a.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	calls := f.calls(t)
	if !hasCall(calls, "kill --all app 15") || !hasCall(calls, "wait app") || !hasCall(calls, "delete --force app") {
		t.Errorf("runsc calls %q", calls)
	}
	if got := f.reported(); len(got) != 1 {
		t.Errorf("reported exits %v, want exactly one", got)
	}
}

// A created app container has no process: Kill must end it without
// runsc kill (which refuses) and without touching the sandbox's pid.
func TestAppKillCreated(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	a := f.newApp(t)
	if err := a.Kill(ctx, 0, false); err != nil {
		t.Fatalf("signal 0: %v", err)
	}
	if s := status(t, a); s != Created {
		t.Fatalf("status %q after signal 0, want created", s)
	}
	if err := a.Kill(ctx, uint32(syscall.SIGKILL), true); err != nil {
		t.Fatal(err)
	}
	if got := f.reported(); len(got) != 1 || got[0] != 137 {
		t.Fatalf("reported exits %v, want [137] before Kill returned", got)
	}
	if s := status(t, a); s != Stopped {
		t.Fatalf("status %q, want stopped", s)
	}
	if err := a.Start(ctx); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("start after kill: %v, want FailedPrecondition", err)
	}
	if err := a.Delete(ctx); err != nil {
		t.Fatal(err)
	}
	if s := status(t, a); s != Deleted {
		t.Errorf("status %q, want deleted", s)
	}
	calls := f.calls(t)
	if hasCall(calls, "kill") || !hasCall(calls, "delete --force app") {
		t.Errorf("runsc calls %q: want delete --force and no kill", calls)
	}
	if got := f.reported(); len(got) != 1 {
		t.Errorf("reported exits %v, want exactly one", got)
	}
}

func TestAppDeleteCreatedReportsExit(t *testing.T) {
	f := newFakePod(t)
	a := f.newApp(t)
	if err := a.Delete(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := f.reported(); len(got) != 1 || got[0] != 137 {
		t.Fatalf("reported exits %v, want [137] before Delete returned", got)
	}
	if err := a.Delete(context.Background()); !errdefs.IsNotFound(err) {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

// The pod's sandbox dies: `runsc kill` cannot reach it, `runsc wait`
// fails, runsc reports the container stopped, and the exit is reported as
// a SIGKILL.
func TestAppSandboxDies(t *testing.T) {
	ctx := context.Background()
	f := newFakePod(t)
	a := f.newApp(t)
	if err := a.Start(ctx); err != nil {
		t.Fatal(err)
	}
	f.touch(t, "sandbox-gone", "")
	// Before the waiter notices: runsc cannot reach the sandbox, and the
	// container is stopped, which CRI's stop must see as NotFound.
	if err := a.Kill(ctx, uint32(syscall.SIGTERM), false); !errdefs.IsNotFound(err) {
		t.Errorf("kill with the sandbox gone: %v, want NotFound", err)
	}
	f.touch(t, "wait-fails", "")
	waitExited(t, a)
	if got := f.reported(); len(got) != 1 || got[0] != ExitStatusSandboxGone {
		t.Fatalf("reported exits %v, want [%d]", got, ExitStatusSandboxGone)
	}
	if s := status(t, a); s != Stopped {
		t.Errorf("status %q, want stopped", s)
	}
}

// runsc no longer knows a created container (its sandbox is gone): State
// says stopped and the exit is reported, so nothing waits forever.
func TestAppStatusFollowsRunsc(t *testing.T) {
	f := newFakePod(t)
	a := f.newApp(t)
	if err := os.Remove(filepath.Join(f.dir, "state")); err != nil {
		t.Fatal(err)
	}
	if s := status(t, a); s != Stopped {
		t.Fatalf("status %q, want stopped", s)
	}
	if got := f.reported(); len(got) != 1 || got[0] != 137 {
		t.Fatalf("reported exits %v, want [137]", got)
	}
}

func TestReadBundle(t *testing.T) {
	for _, c := range []struct {
		spec string
		want BundleSpec
		err  bool
	}{
		{`{}`, BundleSpec{}, false},
		{`{"process": {"terminal": true}}`, BundleSpec{Terminal: true}, false},
		{`{"annotations": {"io.kubernetes.cri.container-type": "sandbox", "io.kubernetes.cri.sandbox-id": "s"}}`, BundleSpec{}, false},
		{`{"annotations": {"io.kubernetes.cri.container-type": "container", "io.kubernetes.cri.sandbox-id": "s"}, "process": {"terminal": true}}`, BundleSpec{App: true, Terminal: true}, false},
		{`{"annotations": {"io.kubernetes.cri.container-type": "container"}}`, BundleSpec{}, true},
		{`{"process": "no"}`, BundleSpec{}, true},
	} {
		bundle := t.TempDir()
		if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte(c.spec), 0o644); err != nil {
			t.Fatal(err)
		}
		got, err := ReadBundle(bundle)
		if got != c.want || (err != nil) != c.err || (err != nil && !errdefs.IsInvalidArgument(err)) {
			t.Errorf("%s: %+v, %v; want %+v, error %v", c.spec, got, err, c.want, c.err)
		}
	}
	if _, err := ReadBundle(t.TempDir()); !errdefs.IsInvalidArgument(err) {
		t.Errorf("no config.json: %v, want InvalidArgument", err)
	}
}
