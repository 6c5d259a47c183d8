package proc

import "context"

// runningState: the container runs; the sandbox's exit ends it.
type runningState struct{ p *Init }

func (s *runningState) status() string { return "running" }

func (s *runningState) start(context.Context) error { return invalidState("start", "running") }
func (s *runningState) delete(context.Context) error {
	return invalidState("delete", "running")
}
func (s *runningState) resume(context.Context) error { return invalidState("resume", "running") }

func (s *runningState) kill(ctx context.Context, sig uint32, all bool) error {
	return s.p.kill(ctx, sig, all)
}

func (s *runningState) pause(ctx context.Context) error {
	if err := s.p.runtime.Pause(ctx, s.p.id); err != nil {
		return err
	}
	s.p.state = &pausedState{p: s.p}
	return nil
}

func (s *runningState) checkpoint(ctx context.Context, imagePath string) error {
	return s.p.runtime.Checkpoint(ctx, s.p.id, imagePath, false)
}

func (s *runningState) setExited(status int) {
	s.p.exit.set(status)
	s.p.state = &stoppedState{p: s.p}
}
