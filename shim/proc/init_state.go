package proc

import (
	"context"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// The Init's states and moves, with the runsc command that makes each:
//
//	created ─start (runsc start, or runsc restore from a checkpoint)──▶ running
//	running ─pause (runsc pause)──▶ paused ─resume (runsc resume)──▶ running
//	created, running, paused ─the sandbox's exit (reaper)──▶ stopped
//	created, stopped ─delete (runsc delete --force; unmount, stdio)──▶ deleted
//
// A failed command leaves the process where it was. Kill (runsc kill, or
// kill(2) of its own sandbox while created) and checkpoint (runsc
// checkpoint: the exit follows) move nothing themselves.
var initMoves = moves{
	Created: {Running, Stopped, Deleted},
	Running: {Paused, Stopped},
	Paused:  {Running, Stopped},
	Stopped: {Deleted},
}

// initState is what the Init may do in one state.
type initState interface {
	procState
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	checkpoint(ctx context.Context, imagePath string) error
}

// current is the behaviour of the Init's current state.
func (p *Init) current() initState {
	switch st := p.get(); st {
	case Created:
		if p.checkpoint != "" {
			return initCreatedCheckpoint{p}
		}
		return initCreated{p}
	case Running:
		return initRunning{p}
	case Paused:
		return initPaused{p}
	case Stopped:
		return initStopped{p}
	default:
		return deletedState{}
	}
}

// initCreated: `runsc create` ran; the container waits for Start.
type initCreated struct{ p *Init }

func (s initCreated) start(ctx context.Context) error {
	if err := s.p.runtime.Start(ctx, s.p.id); err != nil {
		return err
	}
	s.p.move(Running)
	return nil
}

func (s initCreated) delete(ctx context.Context) error {
	if err := s.p.delete(ctx); err != nil {
		return err
	}
	s.p.move(Deleted)
	return nil
}

// runsc cannot signal a container that has not started ("cannot signal
// container in state created"); containerd kills a created task before
// deleting it, so the signal goes to the sandbox process itself.
func (s initCreated) kill(_ context.Context, sig uint32, _ bool) error {
	pid := s.p.Pid()
	if err := unix.Kill(pid, syscall.Signal(sig)); err != nil {
		return fmt.Errorf("signalling the sandbox (pid %d): %w", pid, err)
	}
	return nil
}

func (initCreated) pause(context.Context) error  { return invalidState("pause", Created) }
func (initCreated) resume(context.Context) error { return invalidState("resume", Created) }
func (initCreated) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", Created)
}

// initCreatedCheckpoint: Create got a checkpoint; Start restores the
// container from it (`runsc restore`), which also starts it. Nothing runs
// before.
type initCreatedCheckpoint struct{ p *Init }

func (s initCreatedCheckpoint) start(ctx context.Context) error {
	p := s.p
	if err := p.runCreate(ctx, "restore", func(opts *runsc.CreateOpts) error {
		return p.runtime.Restore(ctx, p.id, p.bundle, p.checkpoint, opts)
	}); err != nil {
		return err
	}
	p.move(Running)
	return nil
}

func (s initCreatedCheckpoint) delete(ctx context.Context) error {
	s.p.cleanup(ctx)
	s.p.move(Deleted)
	return nil
}

func (initCreatedCheckpoint) kill(context.Context, uint32, bool) error {
	return invalidState("kill", Created)
}
func (initCreatedCheckpoint) pause(context.Context) error  { return invalidState("pause", Created) }
func (initCreatedCheckpoint) resume(context.Context) error { return invalidState("resume", Created) }
func (initCreatedCheckpoint) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", Created)
}

// initRunning: the container runs; the sandbox's exit ends it.
type initRunning struct{ p *Init }

func (initRunning) start(context.Context) error  { return invalidState("start", Running) }
func (initRunning) delete(context.Context) error { return invalidState("delete", Running) }
func (initRunning) resume(context.Context) error { return invalidState("resume", Running) }

func (s initRunning) kill(ctx context.Context, sig uint32, all bool) error {
	return s.p.kill(ctx, sig, all)
}

func (s initRunning) pause(ctx context.Context) error {
	if err := s.p.runtime.Pause(ctx, s.p.id); err != nil {
		return err
	}
	s.p.move(Paused)
	return nil
}

func (s initRunning) checkpoint(ctx context.Context, imagePath string) error {
	return s.p.runtime.Checkpoint(ctx, s.p.id, imagePath, false)
}

// initPaused: `runsc pause` froze the sandbox.
type initPaused struct{ p *Init }

func (initPaused) start(context.Context) error  { return invalidState("start", Paused) }
func (initPaused) delete(context.Context) error { return invalidState("delete", Paused) }
func (initPaused) pause(context.Context) error  { return invalidState("pause", Paused) }

func (s initPaused) resume(ctx context.Context) error {
	if err := s.p.runtime.Resume(ctx, s.p.id); err != nil {
		return err
	}
	s.p.move(Running)
	return nil
}

func (s initPaused) kill(ctx context.Context, sig uint32, all bool) error {
	return s.p.kill(ctx, sig, all)
}

// containerd pauses a task before checkpointing it.
func (s initPaused) checkpoint(ctx context.Context, imagePath string) error {
	return s.p.runtime.Checkpoint(ctx, s.p.id, imagePath, false)
}

// initStopped: the sandbox exited; only Delete is left.
type initStopped struct{ p *Init }

func (initStopped) start(context.Context) error  { return invalidState("start", Stopped) }
func (initStopped) pause(context.Context) error  { return invalidState("pause", Stopped) }
func (initStopped) resume(context.Context) error { return invalidState("resume", Stopped) }
func (initStopped) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", Stopped)
}
func (initStopped) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s initStopped) delete(ctx context.Context) error {
	if err := s.p.delete(ctx); err != nil {
		return err
	}
	s.p.move(Deleted)
	return nil
}
