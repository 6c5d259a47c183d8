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
	"github.com/containerd/containerd/pkg/stdio"
)

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
