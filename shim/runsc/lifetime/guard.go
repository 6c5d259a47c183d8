package lifetime

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// A shim killed while `runsc create` (or `restore`) runs would leave what
// runsc made by then: the sandbox, the gofer, runsc's state, and the rootfs
// the shim mounted. containerd 1.6 cleans up after a dead shim only for a
// task whose Create returned, and the parent-death signal kills the runsc
// command but not what it started. So the shim binary, re-executed as a
// guard, is the parent of `runsc create`: if the shim dies before create is
// done, the guard kills create, runs `runsc delete --force` and unmounts the
// rootfs. It lives only as long as the command; the sandbox and gofer are
// re-parented to the shim (a subreaper) as without it.
//
// The guard is a subreaper too, so what create started is re-parented to
// it while create runs. A create killed between starting the sandbox and
// saving its state leaves a sandbox and gofer that `runsc delete` cannot
// find (runsc has no state for them); the guard of a create that failed
// kills whatever is still its child, so a failed create leaves nothing.

// guardEnv carries a guardSpec to the shim binary re-executed as a guard.
const guardEnv = "GVISOR_CONTAINERD_SHIM_CREATE_GUARD"

// guardBinary is the shim binary that serves as the guard; "" runs create
// unguarded (a process that did not call GuardCreates).
var guardBinary string

type guardSpec struct {
	Runsc   string   // path of the runsc binary; the guard's argv is the command's
	ShimPid int      // the guard's parent: another parent means the shim died
	Delete  []string // argv of `runsc delete --force <id>`
	Rootfs  string   // a mount unmounted after the delete; "" for none
}

// GuardCreates must be called first in the shim's main. In a process
// started as a guard it runs the guard and exits; otherwise it makes later
// Guard calls (runsc.Runsc's Create and Restore) return a guard (this
// binary).
func GuardCreates() {
	if spec := os.Getenv(guardEnv); spec != "" {
		os.Exit(runGuard(spec, os.Args))
	}
	guardBinary = "/proc/self/exe"
}

// Guard returns the command that runs cmd, a `runsc create` or `restore`,
// under a guard: the shim binary re-executed with cmd's argv. If the shim
// dies before cmd is done, the guard kills it, runs del (the argv of
// `runsc delete --force <id>`) and unmounts rootfs ("" for none). cmd
// itself is returned when guards are off (GuardCreates was not called) or
// cmd cannot start, so that starting it fails with the clear error.
func Guard(ctx context.Context, cmd *exec.Cmd, del []string, rootfs string) (*exec.Cmd, error) {
	if guardBinary == "" || cmd.Err != nil {
		return cmd, nil
	}
	if _, err := exec.LookPath(cmd.Path); err != nil {
		return cmd, nil
	}
	spec, err := json.Marshal(guardSpec{
		Runsc:   cmd.Path,
		ShimPid: os.Getpid(),
		Delete:  del,
		Rootfs:  rootfs,
	})
	if err != nil {
		return nil, err
	}
	guard := exec.CommandContext(ctx, guardBinary)
	// The runsc command line, so the guard shows as the command it runs
	// and failures are reported as that command's.
	guard.Args = cmd.Args
	guard.Env = append(os.Environ(), guardEnv+"="+string(spec))
	// Not SIGKILL: the guard must live to clean up.
	guard.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	return guard, nil
}

// runGuard runs the command in argv (spec.Runsc as the binary) and exits
// with its status. When the shim dies first, it cleans up and exits 137.
func runGuard(specJSON string, argv []string) int {
	var spec guardSpec
	if err := json.Unmarshal([]byte(specJSON), &spec); err != nil || spec.Runsc == "" || len(spec.Delete) == 0 || len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "gvisor-containerd-shim: bad %s: %q\n", guardEnv, specJSON)
		return 125
	}
	shimDied := make(chan os.Signal, 1)
	signal.Notify(shimDied, syscall.SIGTERM)
	// Held open so the rootfs is found after containerd renamed the bundle.
	bundle := -1
	if spec.Rootfs != "" {
		if fd, err := unix.Open(filepath.Dir(spec.Rootfs), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			bundle = fd
		}
	}
	cleanup := func() int {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		exec.CommandContext(ctx, spec.Delete[0], spec.Delete[1:]...).Run()
		killOrphans(ctx)
		if bundle >= 0 {
			target := "/proc/self/fd/" + strconv.Itoa(bundle) + "/" + filepath.Base(spec.Rootfs)
			for unix.Unmount(target, unix.MNT_DETACH) == nil {
			}
		}
		return 128 + int(syscall.SIGKILL)
	}
	if os.Getppid() != spec.ShimPid {
		return cleanup() // the shim died before the signal handler was set
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		fmt.Fprintf(os.Stderr, "gvisor-containerd-shim: guard: becoming a subreaper: %v\n", err)
		return 125
	}
	// The command's own parent-death signal follows this thread.
	runtime.LockOSThread()
	cmd := exec.Command(spec.Runsc, argv[1:]...)
	cmd.Args[0] = argv[0]
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, guardEnv+"=") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return 127 // as a shell's "not found"; its stderr is the container's
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case <-shimDied:
			// The kernel re-parents the guard before it signals; a SIGTERM
			// from anyone else (to the shim's process group) is not the
			// shim's death.
			if os.Getppid() == spec.ShimPid {
				continue
			}
			cmd.Process.Kill()
			<-done
			return cleanup()
		case err := <-done:
			if os.Getppid() != spec.ShimPid {
				return cleanup() // created, but nobody is left to use or delete it
			}
			if err != nil {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				killOrphans(ctx)
				cancel()
			}
			return exitCode(err)
		}
	}
}

func exitCode(err error) int {
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &exit):
		if ws, ok := exit.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal())
		}
		return exit.ExitCode()
	default:
		return 127
	}
}

// killOrphans kills and reaps the guard's children: what the command
// started and left behind, re-parented to the guard. A killed child's own
// children become the guard's in turn, so it scans until none is left or
// ctx ends.
func killOrphans(ctx context.Context) {
	for ctx.Err() == nil {
		for _, pid := range children() {
			unix.Kill(pid, unix.SIGKILL)
		}
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		switch {
		case err == unix.ECHILD:
			return
		case pid > 0 || err == unix.EINTR:
			continue
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// children lists the pids of the calling process's children, zombies
// included, from /proc.
func children() []int {
	entries, _ := os.ReadDir("/proc")
	self := os.Getpid()
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile("/proc/" + e.Name() + "/stat"); err == nil && parentOf(b) == self {
			pids = append(pids, pid)
		}
	}
	return pids
}

// parentOf is the ppid in a /proc/<pid>/stat line: the second field after
// the command name, which is in parentheses and may hold any character.
func parentOf(stat []byte) int {
	s := string(stat)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(f[1])
	return ppid
}
