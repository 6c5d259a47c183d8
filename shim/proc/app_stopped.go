package proc

import "context"

// appStoppedState: the container exited, died with its sandbox, or was
// killed before it started; only Delete is left.
type appStoppedState struct{ a *App }

func (s *appStoppedState) status() string { return "stopped" }

func (s *appStoppedState) start(context.Context) error { return invalidState("start", "stopped") }

func (s *appStoppedState) kill(context.Context, uint32, bool) error { return errProcessFinished }

func (s *appStoppedState) delete(ctx context.Context) error {
	err := s.a.remove(ctx)
	s.a.state = &deletedState{}
	return err
}

func (s *appStoppedState) setExited(int) {}
