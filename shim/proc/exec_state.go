package proc

import "context"

// The Exec's states and moves, with what makes each:
//
//	created ─start (runsc exec; the waiter wrote its pid file)──▶ running
//	created ─start failed──▶ stopped (exit ExitStatusStartFailed)
//	created, running ─the waiter's exit (reaper)──▶ stopped
//	created, stopped ─delete (stdio, pid files)──▶ deleted
//
// A failed start ends the exec, as in containerd's pkg/process: its stdio
// is closed (containerd's client gave up its end), so it cannot start
// again, and its waiters are released. Kill (runsc kill --pid) moves
// nothing.
var execMoves = moves{
	Created: {Running, Stopped, Deleted},
	Running: {Stopped},
	Stopped: {Deleted},
}

// current is the behaviour of the Exec's current state.
func (e *Exec) current() procState {
	switch e.get() {
	case Created:
		return execCreated{e}
	case Running:
		return execRunning{e}
	case Stopped:
		return execStopped{e}
	default:
		return deletedState{}
	}
}

// execCreated: the Exec RPC recorded the process; Start runs it.
type execCreated struct{ e *Exec }

func (s execCreated) start(ctx context.Context) error {
	if err := s.e.run(ctx); err != nil {
		s.e.SetExited(ExitStatusStartFailed)
		return err
	}
	s.e.move(Running)
	return nil
}

func (s execCreated) delete(ctx context.Context) error {
	s.e.delete(ctx)
	s.e.move(Deleted)
	return nil
}

func (execCreated) kill(context.Context, uint32, bool) error { return invalidState("kill", Created) }

// execRunning: the process runs inside the sandbox.
type execRunning struct{ e *Exec }

func (execRunning) start(context.Context) error  { return invalidState("start", Running) }
func (execRunning) delete(context.Context) error { return invalidState("delete", Running) }

func (s execRunning) kill(ctx context.Context, sig uint32, _ bool) error {
	target := s.e.parent.execTarget()
	return target.runtime.Kill(ctx, target.id, int(sig), false, s.e.Pid())
}

// execStopped: the process exited, or never started; only Delete is left.
type execStopped struct{ e *Exec }

func (execStopped) start(context.Context) error              { return invalidState("start", Stopped) }
func (execStopped) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s execStopped) delete(ctx context.Context) error {
	s.e.delete(ctx)
	s.e.move(Deleted)
	return nil
}
