package lifetime

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"
)

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}

// A shim killed during `runsc create` leaves nothing: its guard kills the
// command, runs `runsc delete --force` and unmounts the rootfs, also after
// containerd renamed the bundle (as its cleanup of a failed create does).
func TestCreateGuardCleansUp(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting needs root")
	}
	dir := t.TempDir()
	bundle, deleted := filepath.Join(dir, "bundle"), filepath.Join(dir, "deleted")
	rootfs := filepath.Join(bundle, "rootfs")
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := unix.Mount("tmpfs", rootfs, "tmpfs", 0, ""); err != nil {
		t.Fatal(err)
	}
	renamed := filepath.Join(dir, ".bundle")
	t.Cleanup(func() {
		unix.Unmount(filepath.Join(renamed, "rootfs"), unix.MNT_DETACH)
		unix.Unmount(rootfs, unix.MNT_DETACH)
	})
	command, pidFile, _ := blockingRuntime(t)
	// delete records its arguments; create blocks.
	script, _ := os.ReadFile(command)
	script = bytes.Replace(script, []byte("#!/bin/sh\n"), []byte(fmt.Sprintf("#!/bin/sh\ncase \" $* \" in *\" delete \"*) echo \"$@\" > %s; exit 0;; esac\n", deleted)), 1)
	if err := os.WriteFile(command, script, 0o755); err != nil {
		t.Fatal(err)
	}
	shim := exec.Command(os.Args[0], "-test.run=^$")
	shim.Env = append(os.Environ(), "RUNSC_TEST_FAKE_SHIM="+command, "RUNSC_TEST_FAKE_SHIM_BUNDLE="+bundle)
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	create := awaitPid(t, pidFile)
	t.Cleanup(func() { syscall.Kill(create, syscall.SIGKILL) })
	if err := shim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	shim.Wait()
	if err := os.Rename(bundle, renamed); err != nil {
		t.Fatal(err)
	}
	var args []byte
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		var err error
		if args, err = os.ReadFile(deleted); err == nil && !running(create) && !mounted(filepath.Join(renamed, "rootfs")) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("10 s after the shim died: create running %v, deleted %q, rootfs mounted %v",
				running(create), args, mounted(filepath.Join(renamed, "rootfs")))
		}
	}
	if got := strings.TrimSpace(string(args)); !strings.HasSuffix(got, "delete --force c1") {
		t.Fatalf("the guard ran %q, want runsc delete --force c1", got)
	}
}

// A create runs under its guard, which reports the command's exit status
// as its own and keeps its environment variable to itself.
func TestCreateGuardPassesStatusThrough(t *testing.T) {
	dir := t.TempDir()
	command := filepath.Join(dir, "runsc")
	script := "#!/bin/sh\nenv | grep -q " + guardEnv + " && exit 5\n" +
		"tr '\\0' '\\n' < /proc/$PPID/environ | grep -q " + guardEnv + " || exit 4\nexit 3\n"
	if err := os.WriteFile(command, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd, err := Guard(t.Context(), exec.Command(command, "create", "c1"), []string{command, "delete", "--force", "c1"}, "")
	if err != nil {
		t.Fatal(err)
	}
	ec, err := Start(runc.Monitor, cmd)
	if err != nil {
		t.Fatal(err)
	}
	if status, err := runc.Monitor.Wait(cmd, ec); status != 3 {
		t.Fatalf("create under its guard: status %d (%v), want 3", status, err)
	}
}

// A malformed guard spec (the shim binary started by hand with the
// variable set) is refused with status 125, never a panic.
func TestGuardRefusesBadSpec(t *testing.T) {
	for _, spec := range []string{"x", "{}", `{"Runsc":"/bin/true"}`} {
		if got := runGuard(spec, []string{"runsc", "create", "c1"}); got != 125 {
			t.Errorf("spec %q: status %d, want 125", spec, got)
		}
	}
}

// What a create started and left behind when it failed (a runsc create
// killed before it saved the sandbox's state, which `runsc delete` then
// cannot find) dies with the create's guard; what a create that succeeded
// started lives on.
func TestCreateGuardKillsWhatAFailedCreateLeft(t *testing.T) {
	for _, tc := range []struct {
		status int
		alive  bool
	}{{1, false}, {0, true}} {
		t.Run(fmt.Sprintf("create exits %d", tc.status), func(t *testing.T) {
			dir := t.TempDir()
			command, pidFile := filepath.Join(dir, "runsc"), filepath.Join(dir, "pid")
			// A "sandbox" whose parent, create, exits without waiting for it.
			script := fmt.Sprintf("#!/bin/sh\nsleep 600 &\necho $! > %s.tmp && mv %s.tmp %s\nexit %d\n", pidFile, pidFile, pidFile, tc.status)
			if err := os.WriteFile(command, []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			cmd, err := Guard(t.Context(), exec.Command(command, "create", "c1"), []string{"/bin/true"}, "")
			if err != nil {
				t.Fatal(err)
			}
			ec, err := Start(runc.Monitor, cmd)
			if err != nil {
				t.Fatal(err)
			}
			if status, err := runc.Monitor.Wait(cmd, ec); status != tc.status {
				t.Fatalf("create under its guard: status %d (%v), want %d", status, err, tc.status)
			}
			sandbox := awaitPid(t, pidFile)
			t.Cleanup(func() { syscall.Kill(sandbox, syscall.SIGKILL) })
			if got := running(sandbox); got != tc.alive {
				t.Fatalf("after create exited %d: the process it started is running: %v, want %v", tc.status, got, tc.alive)
			}
		})
	}
}
