package proc

import "context"

// execRunningState: the process runs inside the sandbox.
type execRunningState struct{ e *Exec }

func (s *execRunningState) status() string { return "running" }

func (s *execRunningState) start(context.Context) error  { return invalidState("start", "running") }
func (s *execRunningState) delete(context.Context) error { return invalidState("delete", "running") }

func (s *execRunningState) kill(ctx context.Context, sig uint32, _ bool) error {
	return s.e.kill(ctx, sig)
}

func (s *execRunningState) setExited(int) {
	s.e.state = &execStoppedState{e: s.e}
}
