package proc

import "context"

// execCreatedState: the Exec RPC recorded the process; Start runs it.
type execCreatedState struct{ e *Exec }

func (s *execCreatedState) status() string { return "created" }

func (s *execCreatedState) start(ctx context.Context) error {
	if err := s.e.run(ctx); err != nil {
		return err
	}
	s.e.state = &execRunningState{e: s.e}
	return nil
}

func (s *execCreatedState) delete(context.Context) error {
	s.e.delete()
	s.e.state = &deletedState{}
	return nil
}

func (s *execCreatedState) kill(context.Context, uint32, bool) error {
	return invalidState("kill", "created")
}

func (s *execCreatedState) setExited(status int) {
	s.e.state = &execStoppedState{e: s.e}
}
