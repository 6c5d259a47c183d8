package proc

import "context"

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

func (s *createdState) kill(ctx context.Context, sig uint32, all bool) error {
	return s.p.kill(ctx, sig, all)
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
