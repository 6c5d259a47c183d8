package proc

import "context"

// execStoppedState: the process exited; only Delete is left.
type execStoppedState struct{ e *Exec }

func (s *execStoppedState) status() string { return "stopped" }

func (s *execStoppedState) start(context.Context) error { return invalidState("start", "stopped") }

func (s *execStoppedState) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s *execStoppedState) delete(ctx context.Context) error {
	s.e.delete(ctx)
	s.e.state = &deletedState{}
	return nil
}

func (s *execStoppedState) setExited(int) {}
