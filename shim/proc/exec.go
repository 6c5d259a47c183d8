package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/console"
	"github.com/containerd/containerd/log"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// ExecConfig describes a process to exec into the container.
type ExecConfig struct {
	ID    string
	Spec  specs.Process
	Stdio stdio.Stdio
}

// Exec is a process exec'd into the container. Its states and moves are
// in exec_state.go.
type Exec struct {
	machine

	id     string
	parent Container
	spec   specs.Process
	io     *stdio.IO
	// pid is the process's pid inside the sandbox; waiterPid the host pid
	// of the `runsc exec` that runsc leaves behind to wait for it, which
	// exits with the process's status. Both under machine.mu.
	pid, waiterPid int
	// pidFiles are the files runsc writes the exec's pids to, once Start
	// named them; Delete and a failed Start remove them.
	pidFiles []string
}

// ExitStatusStartFailed is the exit status of an exec whose Start failed:
// it never ran, and its waiters are released with this status (runc's for
// an exec it could not start).
const ExitStatusStartFailed = 255

var _ Process = (*Exec)(nil)

// NewExec prepares an exec in the created state and its stdio (as
// containerd-shim, a binary:// logging driver of an exec gets the exec id
// as CONTAINER_ID); Start runs it. ioUID and ioGID own the stdio pipes.
func NewExec(ctx context.Context, parent Container, cfg ExecConfig, ioUID, ioGID int) (*Exec, error) {
	if cfg.Spec.Terminal != cfg.Stdio.Terminal {
		return nil, fmt.Errorf("exec %s: process terminal %v but stdio terminal %v: %w",
			cfg.ID, cfg.Spec.Terminal, cfg.Stdio.Terminal, errdefs.ErrInvalidArgument)
	}
	pio, err := stdio.Open(ctx, stdio.Config{
		ID:        cfg.ID,
		Namespace: parent.execTarget().namespace,
		Stdio:     cfg.Stdio,
		UID:       ioUID,
		GID:       ioGID,
		Monitor:   parent.execTarget().runtime.ProcessMonitor(),
	})
	if err != nil {
		return nil, err
	}
	return &Exec{id: cfg.ID, parent: parent, spec: cfg.Spec, io: pio, machine: newMachine(execMoves)}, nil
}

// ID is the exec id.
func (e *Exec) ID() string { return e.id }

// ContainerID is the id of the container the exec runs in.
func (e *Exec) ContainerID() string { return e.parent.ID() }

// Pid is the process's pid inside the sandbox, once it started.
func (e *Exec) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

// ExitPid is the host pid of the exec's waiter, whose exit is the
// process's.
func (e *Exec) ExitPid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waiterPid
}

// Stdio is what containerd gave the exec's stdio.
func (e *Exec) Stdio() stdio.Stdio { return e.io.Stdio() }

// Status is the shim's bookkeeping: the reaper sees the waiter's exit.
func (e *Exec) Status(context.Context) (State, error) { return e.get(), nil }

// Resize resizes the exec's terminal.
func (e *Exec) Resize(ws console.WinSize) error { return e.io.Resize(ws) }

// CloseStdin closes the exec's stdin.
func (e *Exec) CloseStdin() error { return e.io.CloseStdin() }

// Start runs the process in the container.
func (e *Exec) Start(ctx context.Context) error {
	return e.do(func(s procState) error { return s.start(ctx) })
}

// Delete releases what the exec holds.
func (e *Exec) Delete(ctx context.Context) error {
	return e.do(func(s procState) error { return s.delete(ctx) })
}

// Kill signals the process (runsc kill --pid).
func (e *Exec) Kill(ctx context.Context, sig uint32, all bool) error {
	return e.do(func(s procState) error { return s.kill(ctx, sig, all) })
}

// do runs op in the current state, one operation at a time.
func (e *Exec) do(op func(procState) error) error {
	e.op.Lock()
	defer e.op.Unlock()
	return op(e.current())
}

// run execs the process (runsc.Exec) and connects its stdio.
// When that fails after runsc exec'd the process, the process is killed:
// the Start RPC fails, so nobody would wait for it or signal it. And on
// any failure the stdio is closed: containerd's client, whose Start waits
// for its output copies to end before it returns the error, would wait
// forever on fifos the shim still held open (an exec of a missing binary
// hung `ctr task exec` and CRI's exec).
func (e *Exec) run(ctx context.Context) (retErr error) {
	defer func() {
		if retErr != nil {
			e.io.Close()
		}
	}()
	if !e.parent.Running() {
		return fmt.Errorf("exec %s: container is not running: %w", e.id, errdefs.ErrFailedPrecondition)
	}
	target := e.parent.execTarget()
	rt, containerID, dir := target.runtime, target.id, target.dir
	pidFile, internalPidFile := execPidFiles(dir, e.id)
	e.pidFiles = []string{pidFile, internalPidFile}
	// Files an earlier exec of this id left (a shim that died before its
	// DeleteProcess) would pass for this one's: the waiter is taken as
	// running once its pid file exists.
	e.removePidFiles(ctx)
	defer func() {
		if retErr != nil {
			e.removePidFiles(ctx)
		}
	}()
	opts := &runsc.ExecOpts{PidFile: pidFile, InternalPidFile: internalPidFile, Terminal: e.io.Stdio().Terminal, IO: e.io.RuncIO()}
	waiterPid, master, err := rt.Exec(ctx, containerID, e.spec, opts)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			killFailedExec(context.WithoutCancel(ctx), rt, containerID, e.id, opts.InternalPidFile)
		}
	}()
	if master != nil {
		if err := e.io.CopyConsole(ctx, master); err != nil {
			return err
		}
	} else if err := e.io.CopyPipes(ctx); err != nil {
		return err
	}
	pid, err := runsc.ReadPidFile(opts.InternalPidFile)
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.pid, e.waiterPid = pid, waiterPid
	e.mu.Unlock()
	return nil
}

// execPidFiles names exec id's pid files in dir (the Exec RPC took the id
// only if it is a valid identifier, so it is a file name).
func execPidFiles(dir, id string) (pidFile, internalPidFile string) {
	base := filepath.Join(dir, "exec-"+id)
	return base + ".pid", base + ".internal.pid"
}

// delete releases what the exec holds on the host: its stdio and its pid
// files. An exec deleted before it ran releases its waiters too.
func (e *Exec) delete(ctx context.Context) {
	e.io.Close()
	e.removePidFiles(ctx)
	e.SetExited(ExitStatusStartFailed)
}

func (e *Exec) removePidFiles(ctx context.Context) {
	for _, f := range e.pidFiles {
		if err := os.Remove(f); err != nil && !os.IsNotExist(err) {
			log.G(ctx).WithError(err).WithField("exec", e.id).Warn("removing an exec's pid file")
		}
	}
}

// killFailedExec kills the process of exec id whose start failed after
// runsc exec'd it; its pid inside the sandbox is in internalPidFile, which
// runsc writes before the pid file it reports the exec with. Its `runsc
// exec` waiter then exits and is reaped like any other child.
func killFailedExec(ctx context.Context, rt *runsc.Runsc, containerID, id, internalPidFile string) {
	pid, err := runsc.ReadPidFile(internalPidFile)
	if err == nil {
		err = rt.Kill(ctx, containerID, int(unix.SIGKILL), false, pid)
	}
	if err != nil && !errdefs.IsNotFound(err) {
		log.G(ctx).WithError(err).WithField("exec", id).Warn("killing an exec whose start failed")
	}
}
