package proc

import "context"

// stoppedState: the sandbox exited; only Delete is left.
type stoppedState struct{ p *Init }

func (s *stoppedState) status() string { return "stopped" }

func (s *stoppedState) start(context.Context) error  { return invalidState("start", "stopped") }
func (s *stoppedState) pause(context.Context) error  { return invalidState("pause", "stopped") }
func (s *stoppedState) resume(context.Context) error { return invalidState("resume", "stopped") }
func (s *stoppedState) checkpoint(context.Context, string) error {
	return invalidState("checkpoint", "stopped")
}
func (s *stoppedState) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s *stoppedState) delete(ctx context.Context) error {
	err := s.p.delete(ctx)
	s.p.state = &deletedState{}
	return err
}

func (s *stoppedState) setExited(int) {}
