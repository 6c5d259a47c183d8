package proc

import (
	"context"
	"fmt"
	"syscall"

	"golang.org/x/sys/unix"
)

// createdState: `runsc create` ran; the container waits for Start.
type createdState struct{ p *Init }

func (s *createdState) status() string { return "created" }

func (s *createdState) start(ctx context.Context) error {
	if err := s.p.runtime.Start(ctx, s.p.id); err != nil {
		return err
	}
	s.p.state = &runningState{p: s.p}
	return nil
}

func (s *createdState) delete(ctx context.Context) error {
	err := s.p.delete(ctx)
	s.p.state = &deletedState{}
	return err
}

// runsc cannot signal a container that has not started ("cannot signal
// container in state created"); containerd kills a created task before
// deleting it, so the signal goes to the sandbox process itself.
func (s *createdState) kill(ctx context.Context, sig uint32, all bool) error {
	if err := unix.Kill(s.p.pid, syscall.Signal(sig)); err != nil {
		return fmt.Errorf("signalling the sandbox (pid %d): %w", s.p.pid, err)
	}
	return nil
}

func (s *createdState) pause(context.Context) error  { return invalidState("pause", "created") }
func (s *createdState) resume(context.Context) error { return invalidState("resume", "created") }
func (s *createdState) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", "created")
}

func (s *createdState) setExited(status int) {
	s.p.exit.set(status)
	s.p.state = &stoppedState{p: s.p}
}
