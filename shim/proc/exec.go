package proc

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/pkg/stdio"
	runc "github.com/containerd/go-runc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// ExecConfig describes a process to exec into the container.
type ExecConfig struct {
	ID    string
	Spec  specs.Process
	Stdio stdio.Stdio
}

type execState interface {
	start(ctx context.Context) error
	delete(ctx context.Context) error
	kill(ctx context.Context, sig uint32, all bool) error
	setExited(status int)
	status() string
}

// Exec is a process exec'd into the container.
type Exec struct {
	mu    sync.Mutex
	state execState

	id     string
	parent Container
	spec   specs.Process
	io     *processIO
	// pid is the process's pid inside the sandbox; waiterPid the host pid
	// of the `runsc exec` that runsc leaves behind to wait for it, which
	// exits with the process's status.
	pid, waiterPid int
	exit           exitState
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
	if cfg.Stdio.Terminal {
		target := parent.execTarget()
		if err := target.runtime.CheckTerminalExec(target.id); err != nil {
			return nil, fmt.Errorf("exec %s: %w", cfg.ID, err)
		}
	}
	pio, err := newProcessIO(ctx, ioConfig{
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
	e := &Exec{id: cfg.ID, parent: parent, spec: cfg.Spec, io: pio, exit: newExitState()}
	e.state = &execCreatedState{e: e}
	return e, nil
}

func (e *Exec) ID() string { return e.id }

func (e *Exec) Pid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.pid
}

func (e *Exec) ExitPid() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.waiterPid
}

func (e *Exec) ExitStatus() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exit.status
}

func (e *Exec) ExitedAt() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.exit.exitedAt
}

func (e *Exec) Stdio() stdio.Stdio { return e.io.stdio }

func (e *Exec) Status(context.Context) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.status(), nil
}

func (e *Exec) Exited() <-chan struct{} { return e.exit.waitBlock }

func (e *Exec) Resize(ws console.WinSize) error { return e.io.resize(ws) }

func (e *Exec) CloseStdin() error { return e.io.closeStdin() }

func (e *Exec) Start(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.start(ctx)
}

func (e *Exec) Delete(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.delete(ctx)
}

func (e *Exec) Kill(ctx context.Context, sig uint32, all bool) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.kill(ctx, sig, all)
}

func (e *Exec) SetExited(status int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.state.setExited(status)
	e.exit.set(status)
}

// run execs the process (`runsc exec --detach`) and connects its stdio.
// When that fails after runsc exec'd the process, the process is killed:
// the Start RPC fails, so nobody would wait for it or signal it. And on
// any failure the stdio is closed: containerd's client, whose Start waits
// for its output copies to end before it returns the error, would wait
// forever on fifos the shim still held open (an exec of a missing binary
// hung `ctr task exec` and CRI's exec).
func (e *Exec) run(ctx context.Context) (retErr error) {
	defer func() {
		if retErr != nil {
			e.io.close()
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
	opts := &runsc.ExecOpts{PidFile: pidFile, InternalPidFile: internalPidFile, IO: e.io.IO()}
	var socket *runc.Socket
	if e.io.stdio.Terminal {
		var err error
		if socket, err = runc.NewTempConsoleSocket(); err != nil {
			return fmt.Errorf("creating console socket: %w", err)
		}
		defer socket.Close()
		opts.ConsoleSocket = socket
	}
	waiterPid, err := rt.Exec(ctx, containerID, e.spec, opts)
	if err != nil {
		return err
	}
	defer func() {
		if retErr != nil {
			killFailedExec(context.WithoutCancel(ctx), rt, containerID, e.id, opts.InternalPidFile)
		}
	}()
	if socket != nil {
		c, err := receiveTerminal(ctx, socket, "exec")
		if err != nil {
			return err
		}
		if err := e.io.copyConsole(ctx, c); err != nil {
			return err
		}
	} else if err := e.io.copyPipes(ctx); err != nil {
		return err
	}
	e.waiterPid = waiterPid
	e.pid, err = runsc.ReadPidFile(opts.InternalPidFile)
	return err
}

// execPidFiles names exec id's pid files in dir after a hex digest of the
// id: `runsc exec --detach` (a terminal's) drops any argument containing
// "detach" (runsc.CheckTerminalExec), which an id may and hex cannot.
func execPidFiles(dir, id string) (pidFile, internalPidFile string) {
	sum := sha256.Sum256([]byte(id))
	base := filepath.Join(dir, "exec-"+hex.EncodeToString(sum[:16]))
	return base + ".pid", base + ".internal.pid"
}

func (e *Exec) kill(ctx context.Context, sig uint32) error {
	target := e.parent.execTarget()
	return target.runtime.Kill(ctx, target.id, int(sig), false, e.pid)
}

// delete releases what the exec holds on the host: its stdio and its pid
// files. An exec deleted before it ran releases its waiters too.
func (e *Exec) delete(ctx context.Context) {
	e.io.close()
	e.removePidFiles(ctx)
	e.exit.set(ExitStatusStartFailed)
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
