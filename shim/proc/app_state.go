package proc

import (
	"context"

	"golang.org/x/sys/unix"
)

// The App's states and moves, with what makes each:
//
//	created ─start (runsc start; runsc wait begins)──▶ running
//	created, running ─the exit (runsc wait; runsc state says stopped; a
//	    signal that ends a created container, after runsc delete --force)──▶ stopped
//	created, stopped ─delete (runsc delete --force; unmount, stdio)──▶ deleted
//
// Every exit goes through reportExit (the service records it with
// SetExited, which moves to stopped), once. A failed command leaves the
// container where it was. Kill of a running container (runsc kill) moves
// nothing itself: runsc wait reports the exit.
var appMoves = moves{
	Created: {Running, Stopped, Deleted},
	Running: {Stopped},
	Stopped: {Deleted},
}

// current is the behaviour of the App's current state.
func (a *App) current() procState {
	switch a.get() {
	case Created:
		return appCreated{a}
	case Running:
		return appRunning{a}
	case Stopped:
		return appStopped{a}
	default:
		return deletedState{}
	}
}

// appCreated: `runsc create` joined the container to its pod's sandbox;
// nothing of it runs yet.
type appCreated struct{ a *App }

func (s appCreated) start(ctx context.Context) error {
	if err := s.a.run(ctx); err != nil {
		return err
	}
	s.a.move(Running)
	return nil
}

// runsc cannot signal a container that has not started, and the pid runsc
// reports is the pod's sandbox, which must live on. A created container
// has no process for the signal to reach: a signal that would end a
// process ends the container instead (`runsc delete --force` removes it
// from the sandbox), with the status that signal gives; containerd kills a
// created task before deleting it and waits for that exit.
func (s appCreated) kill(ctx context.Context, sig uint32, _ bool) error {
	if ignoredByDefault(sig) {
		return nil
	}
	if err := deleteFromRunsc(ctx, s.a.runtime, s.a.id); err != nil {
		return err
	}
	s.a.reportExit(128 + int(sig))
	return nil
}

// Deleting a created container ends it as SIGKILL would.
func (s appCreated) delete(ctx context.Context) error {
	if err := s.a.remove(ctx); err != nil {
		return err
	}
	s.a.reportExit(128 + int(unix.SIGKILL))
	s.a.move(Deleted)
	return nil
}

// ignoredByDefault: signal 0 (a liveness check) and signals a process
// does not die of unless it handles them.
func ignoredByDefault(sig uint32) bool {
	switch unix.Signal(sig) {
	case 0, unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
		return true
	}
	return false
}

// appRunning: `runsc start` ran; `runsc wait` reports the exit.
type appRunning struct{ a *App }

func (appRunning) start(context.Context) error  { return invalidState("start", Running) }
func (appRunning) delete(context.Context) error { return invalidState("delete", Running) }

// Through runsc only: the pid the shim knows is the pod's sandbox.
func (s appRunning) kill(ctx context.Context, sig uint32, all bool) error {
	return s.a.kill(ctx, sig, all)
}

// appStopped: the container exited, died with its sandbox, or was killed
// before it started; only Delete is left.
type appStopped struct{ a *App }

func (appStopped) start(context.Context) error              { return invalidState("start", Stopped) }
func (appStopped) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s appStopped) delete(ctx context.Context) error {
	if err := s.a.remove(ctx); err != nil {
		return err
	}
	s.a.move(Deleted)
	return nil
}
