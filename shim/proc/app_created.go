package proc

import (
	"context"

	"golang.org/x/sys/unix"
)

// appCreatedState: `runsc create` joined the container to its pod's
// sandbox; nothing of it runs yet.
type appCreatedState struct{ a *App }

func (s *appCreatedState) status() string { return "created" }

func (s *appCreatedState) start(ctx context.Context) error {
	if err := s.a.run(ctx); err != nil {
		return err
	}
	s.a.state = &appRunningState{a: s.a}
	return nil
}

// runsc cannot signal a container that has not started, and the pid runsc
// reports is the pod's sandbox, which must live on. A created container
// has no process for the signal to reach: a signal that would end a
// process ends the container instead (`runsc delete --force` removes it
// from the sandbox), with the status that signal gives; containerd kills a
// created task before deleting it and waits for that exit.
func (s *appCreatedState) kill(ctx context.Context, sig uint32, _ bool) error {
	if ignoredByDefault(sig) {
		return nil
	}
	if err := deleteFromRunsc(ctx, s.a.runtime, s.a.id); err != nil {
		return err
	}
	s.a.endWithoutRunning(sig)
	return nil
}

// Deleting a created container ends it as SIGKILL would.
func (s *appCreatedState) delete(ctx context.Context) error {
	err := s.a.remove(ctx)
	s.a.endWithoutRunning(uint32(unix.SIGKILL))
	s.a.state = &deletedState{}
	return err
}

func (s *appCreatedState) setExited(int) { s.a.state = &appStoppedState{a: s.a} }

// ignoredByDefault: signal 0 (a liveness check) and signals a process
// does not die of unless it handles them.
func ignoredByDefault(sig uint32) bool {
	switch unix.Signal(sig) {
	case 0, unix.SIGCHLD, unix.SIGCONT, unix.SIGURG, unix.SIGWINCH:
		return true
	}
	return false
}
