package proc

import "context"

// appRunningState: `runsc start` ran; `runsc wait` reports the exit.
type appRunningState struct{ a *App }

func (s *appRunningState) status() string { return "running" }

func (s *appRunningState) start(context.Context) error  { return invalidState("start", "running") }
func (s *appRunningState) delete(context.Context) error { return invalidState("delete", "running") }

// Through runsc only: the pid the shim knows is the pod's sandbox.
func (s *appRunningState) kill(ctx context.Context, sig uint32, all bool) error {
	return s.a.kill(ctx, sig, all)
}

func (s *appRunningState) setExited(int) { s.a.state = &appStoppedState{a: s.a} }
