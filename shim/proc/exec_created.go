package proc

import "context"

// execCreatedState: the Exec RPC recorded the process; Start runs it.
type execCreatedState struct{ e *Exec }

func (s *execCreatedState) status() string { return "created" }

// A failed start ends the exec, as in containerd's pkg/process: its
// stdio is closed (containerd's client gave up its end), so it cannot be
// started again, and its waiters are released with ExitStatusStartFailed.
func (s *execCreatedState) start(ctx context.Context) error {
	if err := s.e.run(ctx); err != nil {
		s.e.exit.set(ExitStatusStartFailed)
		s.e.state = &execStoppedState{e: s.e}
		return err
	}
	s.e.state = &execRunningState{e: s.e}
	return nil
}

func (s *execCreatedState) delete(ctx context.Context) error {
	s.e.delete(ctx)
	s.e.state = &deletedState{}
	return nil
}

func (s *execCreatedState) kill(context.Context, uint32, bool) error {
	return invalidState("kill", "created")
}

func (s *execCreatedState) setExited(status int) {
	s.e.state = &execStoppedState{e: s.e}
}
