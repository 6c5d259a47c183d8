package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
	"github.com/google/gvisor-containerd-shim/shim/stdio"
)

// Init is the init process of a container with a sandbox of its own: a
// plain container or a pod's sandbox container. Its states and moves are
// in init_state.go.
type Init struct {
	machine

	id, namespace, bundle string
	hostResources
	runtime    *runsc.Runsc
	checkpoint string
	pid        int // under machine.mu
}

var _ Container = (*Init)(nil)

// NewInit mounts the rootfs and creates the container (`runsc create`),
// or prepares its restore from cfg.Checkpoint. On failure nothing is left
// mounted or running.
func NewInit(ctx context.Context, cfg ContainerConfig) (_ *Init, retErr error) {
	p := &Init{
		id:         cfg.ID,
		namespace:  cfg.Namespace,
		bundle:     cfg.Bundle,
		runtime:    cfg.Runtime,
		checkpoint: cfg.Checkpoint,
		machine:    newMachine(initMoves),
	}
	if _, err := os.Stat(filepath.Join(cfg.Bundle, "config.json")); err != nil {
		return nil, fmt.Errorf("invalid bundle: %w: %w", err, errdefs.ErrInvalidArgument)
	}
	if err := p.acquire(ctx, cfg); err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			p.cleanup(ctx)
		}
	}()
	if cfg.Checkpoint != "" {
		return p, nil // restored at Start
	}
	if err := p.runCreate(ctx, "create", func(opts *runsc.CreateOpts) error {
		return p.runtime.Create(ctx, p.id, p.bundle, opts)
	}); err != nil {
		return nil, err
	}
	return p, nil
}

// runCreate runs create or restore (run, the runsc command runCmd) with the
// process's stdio or terminal, then connects them to containerd's fifos and
// reads the pid.
func (p *Init) runCreate(ctx context.Context, runCmd string, run func(*runsc.CreateOpts) error) (retErr error) {
	pidFile := bundlePidFile(p.bundle)
	opts := &runsc.CreateOpts{PidFile: pidFile, IO: p.io.RuncIO(), Rootfs: p.rootfs}
	var socket *runc.Socket
	if p.io.Stdio().Terminal {
		var err error
		if socket, err = runc.NewTempConsoleSocket(); err != nil {
			return fmt.Errorf("creating console socket: %w", err)
		}
		defer socket.Close()
		opts.ConsoleSocket = socket
	}
	defer func() {
		if retErr != nil {
			// A sandbox runsc started, before failing or before the
			// terminal, stdio or pid could be had, is of no use to anyone.
			deleteFromRunsc(context.WithoutCancel(ctx), p.runtime, p.id)
		}
	}()
	if err := run(opts); err != nil {
		return err
	}
	if socket != nil {
		c, err := stdio.ReceiveTerminal(ctx, socket, runCmd, terminalWait)
		if err != nil {
			return err
		}
		if err := p.io.CopyConsole(ctx, c); err != nil {
			return err
		}
	} else if err := p.io.CopyPipes(ctx); err != nil {
		return err
	}
	pid, err := runsc.ReadPidFile(pidFile)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.pid = pid
	p.mu.Unlock()
	return nil
}

// ID is the container's id.
func (p *Init) ID() string { return p.id }

// Pid is the sandbox's host pid; 0 until a restore ran.
func (p *Init) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// ExitPid is the sandbox's pid: the sandbox exits with its init's status.
func (p *Init) ExitPid() int { return p.Pid() }

// Stdio is what containerd gave the container's stdio.
func (p *Init) Stdio() stdio.Stdio { return p.io.Stdio() }

// Status is the shim's bookkeeping: the reaper sees every exit.
func (p *Init) Status(context.Context) (State, error) { return p.get(), nil }

// Resize resizes the container's terminal.
func (p *Init) Resize(ws console.WinSize) error { return p.io.Resize(ws) }

// CloseStdin closes the container's stdin.
func (p *Init) CloseStdin() error { return p.io.CloseStdin() }

// Start starts the container (runsc start), or restores it from its
// checkpoint.
func (p *Init) Start(ctx context.Context) error {
	return p.do(func(s initState) error { return s.start(ctx) })
}

// Delete deletes the container from runsc and releases its rootfs and
// stdio.
func (p *Init) Delete(ctx context.Context) error {
	return p.do(func(s initState) error { return s.delete(ctx) })
}

// Kill signals the container's init (all: every process of it).
func (p *Init) Kill(ctx context.Context, sig uint32, all bool) error {
	return p.do(func(s initState) error { return s.kill(ctx, sig, all) })
}

// Pause freezes the sandbox (runsc pause).
func (p *Init) Pause(ctx context.Context) error {
	return p.do(func(s initState) error { return s.pause(ctx) })
}

// Resume thaws the sandbox (runsc resume).
func (p *Init) Resume(ctx context.Context) error {
	return p.do(func(s initState) error { return s.resume(ctx) })
}

// Checkpoint saves the container to imagePath. The container stops: runsc's
// --leave-running destroys the sandbox and runs a new one in the
// foreground of the checkpoint command, which a shim cannot hand over.
func (p *Init) Checkpoint(ctx context.Context, imagePath string) error {
	return p.do(func(s initState) error { return s.checkpoint(ctx, imagePath) })
}

// do runs op in the current state, one operation at a time.
func (p *Init) do(op func(initState) error) error {
	p.op.Lock()
	defer p.op.Unlock()
	return op(p.current())
}

// Running reports whether execs may start: the init runs and is not paused.
func (p *Init) Running() bool { return p.get() == Running }

// Ps lists the pids inside the sandbox; none once the sandbox exited
// (runsc ps refuses a stopped container).
func (p *Init) Ps(ctx context.Context) ([]int, error) {
	if st := p.get(); st == Stopped || st == Deleted {
		return nil, nil
	}
	return p.runtime.Ps(ctx, p.id)
}

func (p *Init) execTarget() execTarget {
	return execTarget{runtime: p.runtime, id: p.id, namespace: p.namespace, dir: p.bundle}
}

func (p *Init) kill(ctx context.Context, sig uint32, all bool) error {
	return p.runtime.Kill(ctx, p.id, int(sig), all, 0)
}

// delete deletes the container from runsc and then releases what the
// shim holds; when runsc fails, everything is kept for a retry.
func (p *Init) delete(ctx context.Context) error {
	if err := deleteFromRunsc(ctx, p.runtime, p.id); err != nil {
		return err
	}
	p.cleanup(ctx)
	return nil
}
