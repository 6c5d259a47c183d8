// Package lifetime ties the runsc commands the shim starts to the shim's
// own life: each is started from one locked OS thread with SIGKILL as its
// parent-death signal (Start), and a create or restore runs under a guard,
// the shim binary re-executed, that cleans up what the command made when
// the shim dies before it is done (GuardCreates, Guard).
package lifetime

import (
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	runc "github.com/containerd/go-runc"
)

// The shim's runsc commands die with the shim: each gets SIGKILL as its
// parent-death signal. Otherwise a runsc command in flight when the shim is
// killed (by containerd on a create timeout, or the OOM killer) runs on
// orphaned, or blocks forever, and nobody is left to clean up after it.
//
// It is safe for every command the shim runs: the signal is not inherited
// across fork, so the processes `runsc create` and `runsc restore` leave
// behind (the sandbox, the gofer) are not tied to the shim by it.
//
// The kernel sends the signal when the *thread* that forked the child
// exits, not the process, and the Go runtime ends a thread when a goroutine
// locked to it returns without unlocking. So every command is started from
// one OS thread that stays locked for the life of the shim.

type startRequest struct {
	monitor runc.ProcessMonitor
	cmd     *exec.Cmd
	done    chan startResult
}

type startResult struct {
	exits chan runc.Exit
	err   error
}

var forkThread = sync.OnceValue(func() chan<- startRequest {
	reqs := make(chan startRequest)
	go func() {
		// Never unlocked, and the goroutine never returns: the thread
		// lives as long as the process.
		runtime.LockOSThread()
		for req := range reqs {
			ec, err := req.monitor.Start(req.cmd)
			req.done <- startResult{ec, err}
		}
	}()
	return reqs
})

// Start starts cmd through monitor from the shim's fork thread, with
// SIGKILL as its parent-death signal unless it has one.
func Start(monitor runc.ProcessMonitor, cmd *exec.Cmd) (chan runc.Exit, error) {
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	if cmd.SysProcAttr.Pdeathsig == 0 {
		cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	}
	done := make(chan startResult, 1)
	forkThread() <- startRequest{monitor, cmd, done}
	res := <-done
	return res.exits, res.err
}
