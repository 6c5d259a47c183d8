package proc

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/log"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// ExitStatusSandboxGone is the exit status reported for an app container
// whose pod sandbox died under it (killed, OOM-killed, or deleted by the
// pod's sandbox shim): 128+SIGKILL, what the container's processes died of.
const ExitStatusSandboxGone = 128 + int(unix.SIGKILL)

// stoppedGrace bounds how long Status waits for the exit of a container
// runsc already reports stopped.
const stoppedGrace = 2 * time.Second

// Waits for an app container's exit are retried with this backoff while
// runsc still reports the container running.
const (
	waitRetryMin = 100 * time.Millisecond
	waitRetryMax = 5 * time.Second
	// stateRetries bounds how often a failing `runsc state` is retried
	// before the sandbox counts as gone.
	stateRetries = 10
)

// ExitFunc is told of a process's exit, once; it records it (SetExited)
// and publishes it.
type ExitFunc func(p Process, status int)

// App is an app container of a pod: runsc runs it inside the pod's
// sandbox, which another shim (the sandbox container's) owns. The pid
// runsc reports for it is the sandbox's, so its exit cannot come from the
// reaper: it comes from `runsc wait`, and it is signalled only through
// runsc. Its states and moves are in app_state.go.
type App struct {
	machine

	id, namespace, bundle string
	hostResources
	runtime *runsc.Runsc
	pid     int

	onExit   ExitFunc
	reported sync.Once
	// stopWait ends the `runsc wait` loop when the shim deletes the
	// container; set by Start, under machine.op.
	stopWait context.CancelFunc
}

var _ Container = (*App)(nil)

// NewApp mounts the rootfs and creates the app container in its pod's
// sandbox (`runsc create`). Its stdio is connected at Start: runsc gives an
// app container the stdio of `runsc start`. A terminal is the exception:
// runsc takes it from create's console socket. onExit is told of the exit.
func NewApp(ctx context.Context, cfg ContainerConfig, onExit ExitFunc) (_ *App, retErr error) {
	if cfg.Checkpoint != "" {
		return nil, fmt.Errorf("restoring an app container of a pod from a checkpoint: runsc checkpoints whole sandboxes: %w", errdefs.ErrNotImplemented)
	}
	if onExit == nil {
		return nil, fmt.Errorf("app container %s: no exit handler: %w", cfg.ID, errdefs.ErrInvalidArgument)
	}
	a := &App{
		id:        cfg.ID,
		namespace: cfg.Namespace,
		bundle:    cfg.Bundle,
		runtime:   cfg.Runtime,
		machine:   newMachine(appMoves),
		onExit:    onExit,
		stopWait:  func() {},
	}
	err := a.acquire(ctx, cfg)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			a.cleanup(ctx)
		}
	}()
	pidFile := bundlePidFile(cfg.Bundle)
	// The rootfs lets create's guard unmount it if the shim dies meanwhile.
	opts := &runsc.CreateOpts{PidFile: pidFile, Rootfs: a.rootfs}
	var socket *runc.Socket
	if cfg.Stdio.Terminal {
		if socket, err = runc.NewTempConsoleSocket(); err != nil {
			return nil, fmt.Errorf("creating console socket: %w", err)
		}
		defer socket.Close()
		opts.ConsoleSocket = socket
	}
	defer func() {
		if retErr != nil {
			// runsc may have started the container's gofer before failing.
			deleteFromRunsc(context.WithoutCancel(ctx), a.runtime, a.id)
		}
	}()
	if err := a.runtime.Create(ctx, a.id, a.bundle, opts); err != nil {
		return nil, err
	}
	if socket != nil {
		c, err := stdio.ReceiveTerminal(ctx, socket, "create", terminalWait)
		if err != nil {
			return nil, err
		}
		if err := a.io.CopyConsole(ctx, c); err != nil {
			return nil, err
		}
	}
	if a.pid, err = runsc.ReadPidFile(pidFile); err != nil {
		return nil, err
	}
	return a, nil
}

// ID is the container's id.
func (a *App) ID() string { return a.id }

// Pid is the pod sandbox's host pid, what runsc reports for the container:
// containerd's v1 runtime loads that process's cgroup for the task's
// stats. The shim never signals it.
func (a *App) Pid() int { return a.pid }

// Stdio is what containerd gave the container's stdio.
func (a *App) Stdio() stdio.Stdio { return a.io.Stdio() }

// Resize resizes the container's terminal.
func (a *App) Resize(ws console.WinSize) error { return a.io.Resize(ws) }

// CloseStdin closes the container's stdin.
func (a *App) CloseStdin() error { return a.io.CloseStdin() }

// Status is runsc's view of the container while the shim's says it is
// created or running, so a container that died with its sandbox reads
// stopped even before its exit is reported. It runs no command but
// `runsc state`, and waits for no other operation.
func (a *App) Status(ctx context.Context) (State, error) {
	st := a.get()
	if st != Created && st != Running {
		return st, nil
	}
	stopped, err := a.runscStopped(ctx)
	if err != nil {
		return 0, err
	}
	if !stopped {
		return st, nil
	}
	if st == Created {
		// Nothing waits for a container that never started: it ends
		// here, as killed; Delete removes it from runsc.
		a.reportExit(ExitStatusSandboxGone)
		return Stopped, nil
	}
	// `runsc wait` is about to report the exit; let State carry it.
	select {
	case <-a.Exited():
	case <-time.After(stoppedGrace):
	case <-ctx.Done():
	}
	return Stopped, nil
}

// Start starts the container (runsc start) and its `runsc wait`.
func (a *App) Start(ctx context.Context) error {
	return a.do(func(s procState) error { return s.start(ctx) })
}

// Delete removes the container from its sandbox (runsc delete --force)
// and releases what the shim holds.
func (a *App) Delete(ctx context.Context) error {
	return a.do(func(s procState) error { return s.delete(ctx) })
}

// Kill signals the container through runsc.
func (a *App) Kill(ctx context.Context, sig uint32, all bool) error {
	return a.do(func(s procState) error { return s.kill(ctx, sig, all) })
}

// do runs op in the current state, one operation at a time.
func (a *App) do(op func(procState) error) error {
	a.op.Lock()
	defer a.op.Unlock()
	return op(a.current())
}

// reportExit tells onExit of the container's exit, once; onExit records
// it (SetExited), which moves the container to stopped.
func (a *App) reportExit(status int) {
	a.reported.Do(func() { a.onExit(a, status) })
}

// Pause is refused: runsc pauses the whole sandbox (its kernel) whichever
// of the pod's containers it is asked to pause.
func (a *App) Pause(context.Context) error {
	return fmt.Errorf("pausing an app container of a pod: runsc would pause the whole pod sandbox: %w", errdefs.ErrNotImplemented)
}

// Resume is refused, as Pause is: the sandbox is the pod's.
func (a *App) Resume(context.Context) error {
	return fmt.Errorf("resuming an app container of a pod: runsc pauses and resumes only whole pod sandboxes: %w", errdefs.ErrNotImplemented)
}

// Checkpoint is refused: runsc checkpoints a whole sandbox, never one
// of its containers.
func (a *App) Checkpoint(context.Context, string) error {
	return fmt.Errorf("checkpointing an app container of a pod: runsc checkpoints whole sandboxes: %w", errdefs.ErrNotImplemented)
}

// Running reports whether execs may start.
func (a *App) Running() bool { return a.get() == Running }

// Ps lists the container's pids inside the sandbox; none unless it runs
// (runsc ps refuses a stopped container).
func (a *App) Ps(ctx context.Context) ([]int, error) {
	if !a.Running() {
		return nil, nil
	}
	pids, err := a.runtime.Ps(ctx, a.id)
	if err != nil {
		if st, serr := a.Status(ctx); serr == nil && st == Stopped {
			return nil, nil // it exited meanwhile
		}
		return nil, err
	}
	return pids, nil
}

func (a *App) execTarget() execTarget {
	return execTarget{runtime: a.runtime, id: a.id, namespace: a.namespace, dir: a.bundle}
}

// run starts the container with its stdio (`runsc start`) and its waiter.
func (a *App) run(ctx context.Context) error {
	if err := a.runtime.StartApp(ctx, a.id, a.io.RuncIO()); err != nil {
		return err
	}
	if err := a.io.CopyPipes(ctx); err != nil {
		// The container runs; its exit must still be seen.
		log.G(ctx).WithError(err).Error("connecting the app container's stdio")
	}
	wctx, cancel := context.WithCancel(context.Background())
	a.stopWait = cancel
	go a.waitExit(log.WithLogger(wctx, log.G(ctx)))
	return nil
}

// waitExit reports the container's exit from `runsc wait`. When the wait
// fails — the pod's sandbox died, so nothing will ever exit normally — and
// runsc no longer reports the container running, the exit is
// ExitStatusSandboxGone; the exit is never dropped.
func (a *App) waitExit(ctx context.Context) {
	backoff := waitRetryMin
	stateFailures := 0
	for {
		status, err := a.runtime.Wait(ctx, a.id)
		if err == nil {
			a.reportExit(status)
			return
		}
		if ctx.Err() != nil {
			return // deleted, or the shim stops
		}
		stopped, serr := a.runscStopped(ctx)
		switch {
		case serr == nil && !stopped:
			stateFailures = 0
		case serr != nil && stateFailures < stateRetries:
			stateFailures++
		default:
			log.G(ctx).WithError(err).WithField("id", a.id).Warn("app container's sandbox is gone; reporting it killed")
			a.reportExit(ExitStatusSandboxGone)
			return
		}
		log.G(ctx).WithError(err).WithField("id", a.id).Warn("runsc wait failed; the container still runs, waiting again")
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return
		}
		backoff = min(2*backoff, waitRetryMax)
	}
}

// runscStopped reports whether `runsc state` says the container stopped;
// a container runsc no longer knows (its sandbox is gone) is stopped.
func (a *App) runscStopped(ctx context.Context) (bool, error) {
	st, err := a.runtime.State(ctx, a.id)
	if runsc.IsNotExist(err) {
		return true, nil
	}
	if err != nil {
		return false, err
	}
	return st.Status == "stopped", nil
}

func (a *App) kill(ctx context.Context, sig uint32, all bool) error {
	err := a.runtime.Kill(ctx, a.id, int(sig), all, 0)
	if err == nil || errdefs.IsNotFound(err) {
		return err
	}
	// A dead sandbox fails the kill with a connection error; the
	// container is gone (its exit is on its way), which CRI's stop
	// takes as done only from a NotFound.
	if stopped, serr := a.runscStopped(ctx); serr == nil && stopped {
		return fmt.Errorf("%w (the container is stopped): %w", err, errdefs.ErrNotFound)
	}
	return err
}

// remove deletes the container from its sandbox (`runsc delete --force`,
// which leaves the sandbox and the pod's other containers running) and
// then releases what the shim holds; when runsc fails, everything is kept
// for a retry.
func (a *App) remove(ctx context.Context) error {
	if err := deleteFromRunsc(ctx, a.runtime, a.id); err != nil {
		return err
	}
	a.stopWait()
	a.cleanup(ctx)
	return nil
}
