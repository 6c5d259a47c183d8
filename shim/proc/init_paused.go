package proc

import "context"

// pausedState: `runsc pause` froze the sandbox.
type pausedState struct{ p *Init }

func (s *pausedState) status() string { return "paused" }

func (s *pausedState) start(context.Context) error  { return invalidState("start", "paused") }
func (s *pausedState) delete(context.Context) error { return invalidState("delete", "paused") }
func (s *pausedState) pause(context.Context) error  { return invalidState("pause", "paused") }

func (s *pausedState) resume(ctx context.Context) error {
	if err := s.p.runtime.Resume(ctx, s.p.id); err != nil {
		return err
	}
	s.p.state = &runningState{p: s.p}
	return nil
}

func (s *pausedState) kill(ctx context.Context, sig uint32, all bool) error {
	return s.p.kill(ctx, sig, all)
}

// containerd pauses a task before checkpointing it.
func (s *pausedState) checkpoint(ctx context.Context, imagePath string) error {
	return s.p.runtime.Checkpoint(ctx, s.p.id, imagePath, false)
}

func (s *pausedState) setExited(status int) {
	s.p.exit.set(status)
	s.p.state = &stoppedState{p: s.p}
}
