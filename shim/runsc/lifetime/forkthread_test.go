package lifetime

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	runc "github.com/containerd/go-runc"
)

// The test binary is the guard of the creates its tests run, as the shim
// binary is in the shim. Run as a fake shim (TestCommandDiesWithShim,
// TestCreateGuardCleansUp), it runs one runtime command that blocks:
// `start c1`, or `create c1` of the bundle in RUNSC_TEST_FAKE_SHIM_BUNDLE
// under a guard, as runsc.Runsc runs them.
func TestMain(m *testing.M) {
	GuardCreates()
	if command := os.Getenv("RUNSC_TEST_FAKE_SHIM"); command != "" {
		fmt.Println(fakeShim(command, os.Getenv("RUNSC_TEST_FAKE_SHIM_BUNDLE")))
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func fakeShim(command, bundle string) error {
	cmd := exec.Command(command, "start", "c1")
	if bundle != "" {
		cmd = exec.Command(command, "create", "--bundle", bundle, "c1")
		var err error
		cmd, err = Guard(context.Background(), cmd, []string{command, "delete", "--force", "c1"}, filepath.Join(bundle, "rootfs"))
		if err != nil {
			return err
		}
	}
	ec, err := Start(runc.Monitor, cmd)
	if err != nil {
		return err
	}
	_, err = runc.Monitor.Wait(cmd, ec)
	return err
}

// blockingRuntime writes a runtime binary that writes its pid to the
// returned pid file, then blocks until the returned fifo is opened for
// writing.
func blockingRuntime(t *testing.T) (command, pidFile, release string) {
	dir := t.TempDir()
	command, pidFile, release = filepath.Join(dir, "runsc"), filepath.Join(dir, "pid"), filepath.Join(dir, "release")
	if err := syscall.Mkfifo(release, 0o600); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho $$ > %s.tmp && mv %s.tmp %s\n: < %s\n", pidFile, pidFile, pidFile, release)
	if err := os.WriteFile(command, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return command, pidFile, release
}

func awaitPid(t *testing.T, pidFile string) int {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if b, err := os.ReadFile(pidFile); err == nil {
			pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
			if err != nil {
				t.Fatal(err)
			}
			return pid
		}
	}
	t.Fatal("the runtime never started")
	return 0
}

// running reports whether pid is a live process (not gone, not a zombie).
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] != 'Z'
}

// A runsc command in flight when the shim is SIGKILLed dies with it.
func TestCommandDiesWithShim(t *testing.T) {
	command, pidFile, _ := blockingRuntime(t)
	shim := exec.Command(os.Args[0], "-test.run=^$")
	shim.Env = append(os.Environ(), "RUNSC_TEST_FAKE_SHIM="+command)
	if err := shim.Start(); err != nil {
		t.Fatal(err)
	}
	pid := awaitPid(t, pidFile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	if err := shim.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	shim.Wait()
	for deadline := time.Now().Add(10 * time.Second); running(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("runsc command %d still runs 10 s after its shim was killed", pid)
		}
	}
}

// The parent-death signal is not sent when the thread that happened to
// fork the command ends while the shim lives on.
func TestCommandOutlivesForkingThread(t *testing.T) {
	command, pidFile, release := blockingRuntime(t)
	cmd := exec.Command(command)
	type started struct {
		exits chan runc.Exit
		err   error
		tid   int
	}
	ch, endThread := make(chan started), make(chan struct{})
	var st started
	for st.tid == 0 {
		go func() {
			runtime.LockOSThread()
			if syscall.Gettid() == os.Getpid() {
				// The runtime keeps the main thread when its goroutine
				// exits locked; try another thread.
				runtime.UnlockOSThread()
				ch <- started{}
				return
			}
			// Returning without unlocking ends this thread.
			ec, err := Start(runc.Monitor, cmd)
			ch <- started{ec, err, syscall.Gettid()}
			<-endThread
		}()
		if st = <-ch; st.err != nil {
			t.Fatal(st.err)
		}
	}
	pid := awaitPid(t, pidFile)
	t.Cleanup(func() { syscall.Kill(pid, syscall.SIGKILL) })
	close(endThread)
	task := fmt.Sprintf("/proc/self/task/%d", st.tid)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(task); os.IsNotExist(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the locked thread did not exit")
		}
	}
	if !running(pid) {
		t.Fatal("the command died with the thread that started it")
	}
	f, err := os.OpenFile(release, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
	if status, err := runc.Monitor.Wait(cmd, st.exits); err != nil || status != 0 {
		t.Fatalf("command ended with status %d, %v; want 0", status, err)
	}
}
