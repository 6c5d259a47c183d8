// Package proc holds the state machines of the shim's processes: the
// container's init process (a sandbox of its own), an app container of a
// pod (in its pod's sandbox), and the processes exec'd into either. Each state
// (created, running, paused, stopped, deleted, ...) lives in a small type of
// its own that allows only the operations valid in that state; the
// operations themselves call runsc through package runsc.
package proc

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/errdefs"
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
	// Status is "created", "running", "paused", "stopped" or "deleted".
	Status(ctx context.Context) (string, error)
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

// exitState is the exit record shared by init and exec processes.
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

func invalidState(op, state string) error {
	return fmt.Errorf("cannot %s a process in %s state: %w", op, state, errdefs.ErrFailedPrecondition)
}

var errProcessFinished = fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)
