// Package proc holds the state machines of the shim's processes: the
// container's init process (a sandbox of its own), an app container of a
// pod (in its pod's sandbox), and the processes exec'd into either. Each
// kind shows its states, what each allows and the moves between them in
// one file (init_state.go, app_state.go, exec_state.go); a state moves
// only once its runsc command (package runsc) succeeded.
package proc

import (
	"context"
	"time"

	"github.com/containerd/console"

	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// terminalWait bounds how long the shim waits for a terminal's pty master
// once the runsc command given the console socket has exited 0. runsc
// (create or restore of a sandbox, create of a pod's app container) sends
// the master over the socket before it exits, so by then the connection
// and the master are already queued on the socket: the wait only covers
// the shim being scheduled. A runsc that exits 0 without connecting (a
// sandbox whose spec has no process.terminal, a wrapper script, a
// misconfigured runtime) would otherwise hang the RPC until containerd
// kills the shim. A variable so tests need not wait that long.
var terminalWait = 5 * time.Second

// Process is a process of the container: its init, an app container of a
// pod, or an exec.
type Process interface {
	// ID is the container id for the init, the exec id otherwise.
	ID() string
	// Pid is the pid containerd sees: the sandbox's host pid for the init
	// and for an app container (its pod's sandbox), the pid inside the
	// sandbox for an exec.
	Pid() int
	// ExitStatus and ExitedAt are valid once the process has exited.
	ExitStatus() int
	ExitedAt() time.Time
	Stdio() stdio.Stdio
	Status(ctx context.Context) (State, error)
	// Exited is closed once the process has exited.
	Exited() <-chan struct{}
	Resize(ws console.WinSize) error
	Start(ctx context.Context) error
	Delete(ctx context.Context) error
	Kill(ctx context.Context, sig uint32, all bool) error
	// SetExited records the exit; the service calls it when it learns of
	// the exit (from the reaper, or from `runsc wait` for an App).
	SetExited(status int)
	// CloseStdin closes the process's stdin.
	CloseStdin() error
}

// exitState is a process's exit record.
type exitState struct {
	status    int
	exitedAt  time.Time
	waitBlock chan struct{}
}

func newExitState() exitState { return exitState{waitBlock: make(chan struct{})} }

// set records the first exit; later ones change nothing.
func (e *exitState) set(status int) {
	select {
	case <-e.waitBlock:
		return
	default:
	}
	e.status = status
	e.exitedAt = time.Now()
	close(e.waitBlock)
}
