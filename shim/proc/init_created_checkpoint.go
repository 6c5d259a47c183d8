package proc

import (
	"context"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// createdCheckpointState: Create got a checkpoint; Start restores the
// container from it (`runsc restore`), which also starts it.
type createdCheckpointState struct{ p *Init }

func (s *createdCheckpointState) status() string { return "created" }

func (s *createdCheckpointState) start(ctx context.Context) error {
	p := s.p
	if err := p.runCreate(ctx, "restore", func(opts *runsc.CreateOpts) error {
		return p.runtime.Restore(ctx, p.id, p.bundle, p.checkpoint, opts)
	}); err != nil {
		return err
	}
	p.state = &runningState{p: p}
	return nil
}

func (s *createdCheckpointState) delete(ctx context.Context) error {
	s.p.cleanup(ctx) // nothing runs yet
	s.p.state = &deletedState{}
	return nil
}

func (s *createdCheckpointState) kill(context.Context, uint32, bool) error {
	return invalidState("kill", "created (from a checkpoint, not yet restored)")
}
func (s *createdCheckpointState) pause(context.Context) error {
	return invalidState("pause", "created")
}
func (s *createdCheckpointState) resume(context.Context) error {
	return invalidState("resume", "created")
}
func (s *createdCheckpointState) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", "created")
}

func (s *createdCheckpointState) setExited(status int) {
	s.p.exit.set(status)
	s.p.state = &stoppedState{p: s.p}
}
