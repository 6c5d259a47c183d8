package proc

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/containerd/errdefs"
)

// State is where a process is in its life.
type State int

// The states of a process. Not every kind of process has every state: only
// an Init pauses.
const (
	Created State = iota + 1
	Running
	Paused
	Stopped
	Deleted
)

// String is the name errors and logs use ("cannot kill a process in stopped state").
func (s State) String() string {
	switch s {
	case Created:
		return "created"
	case Running:
		return "running"
	case Paused:
		return "paused"
	case Stopped:
		return "stopped"
	case Deleted:
		return "deleted"
	}
	return fmt.Sprintf("state(%d)", int(s))
}

// moves lists, for each state, the states a process may move to from it.
// Each kind of process has its table next to its states (init_state.go,
// app_state.go, exec_state.go).
type moves map[State][]State

// machine is a process's state and its exit record, under one short lock:
// it is never held across a runsc command, so an exit is recorded however
// long an operation of the process takes. Operations run one at a time
// under op, which is held across their runsc commands; each moves the
// state only once its command succeeded.
type machine struct {
	op sync.Mutex

	mu    sync.Mutex
	state State
	moves moves
	exit  exitState
}

func newMachine(m moves) machine {
	return machine{state: Created, moves: m, exit: newExitState()}
}

func (m *machine) get() State {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.state
}

// move moves to state to if the table allows it from the current state,
// and reports whether it did. A move the table refuses is a race lost to
// an exit, which moved the process on meanwhile (a start that returns
// after the process already exited leaves it stopped).
func (m *machine) move(to State) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.moveLocked(to)
}

func (m *machine) moveLocked(to State) bool {
	if !slices.Contains(m.moves[m.state], to) {
		return false
	}
	m.state = to
	return true
}

// SetExited records the first exit, releases the process's waiters and
// moves it to stopped (unless it is deleted already: a process deleted
// before it exited still has waiters to release).
func (m *machine) SetExited(status int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.exit.set(status)
	m.moveLocked(Stopped)
}

// ExitStatus is the exit status once the process exited.
func (m *machine) ExitStatus() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exit.status
}

// ExitedAt is when the process exited.
func (m *machine) ExitedAt() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.exit.exitedAt
}

// Exited is closed once the process exited.
func (m *machine) Exited() <-chan struct{} { return m.exit.waitBlock }

// procState is what an App or an Exec may do in one state.
type procState interface {
	start(ctx context.Context) error
	delete(ctx context.Context) error
	kill(ctx context.Context, sig uint32, all bool) error
}

func invalidState(op string, state State) error {
	return fmt.Errorf("cannot %s a process in %s state: %w", op, state, errdefs.ErrFailedPrecondition)
}

var errProcessFinished = fmt.Errorf("process already finished: %w", errdefs.ErrNotFound)

// deletedState: after Delete nothing is left to act on; shared by every
// kind of process.
type deletedState struct{}

var errDeleted = fmt.Errorf("process deleted: %w", errdefs.ErrNotFound)

func (deletedState) start(context.Context) error              { return errDeleted }
func (deletedState) delete(context.Context) error             { return errDeleted }
func (deletedState) pause(context.Context) error              { return errDeleted }
func (deletedState) resume(context.Context) error             { return errDeleted }
func (deletedState) checkpoint(context.Context, string) error { return errDeleted }
func (deletedState) kill(context.Context, uint32, bool) error { return errDeleted }
