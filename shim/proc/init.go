package proc

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/pkg/stdio"
	runc "github.com/containerd/go-runc"

	"github.com/google/gvisor-containerd-shim/shim/runsc"
)

// initState is what the init process may do in one state.
type initState interface {
	start(ctx context.Context) error
	delete(ctx context.Context) error
	pause(ctx context.Context) error
	resume(ctx context.Context) error
	checkpoint(ctx context.Context, imagePath string) error
	kill(ctx context.Context, sig uint32, all bool) error
	setExited(status int)
	status() string
}

// Init is the init process of a container with a sandbox of its own: a
// plain container or a pod's sandbox container.
type Init struct {
	mu    sync.Mutex
	state initState

	id, namespace, bundle string
	hostResources
	runtime    *runsc.Runsc
	checkpoint string
	pid        int
	exit       exitState
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
		exit:       newExitState(),
	}
	if _, err := os.Stat(filepath.Join(cfg.Bundle, "config.json")); err != nil {
		return nil, fmt.Errorf("invalid bundle: %v: %w", err, errdefs.ErrInvalidArgument)
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
		p.state = &createdCheckpointState{p: p}
		return p, nil
	}
	if err := p.runCreate(ctx, "create", func(opts *runsc.CreateOpts) error {
		return p.runtime.Create(ctx, p.id, p.bundle, opts)
	}); err != nil {
		return nil, err
	}
	p.state = &createdState{p: p}
	return p, nil
}

// runCreate runs create or restore (run, the runsc command runCmd) with the
// process's stdio or terminal, then connects them to containerd's fifos and
// reads the pid.
func (p *Init) runCreate(ctx context.Context, runCmd string, run func(*runsc.CreateOpts) error) (retErr error) {
	pidFile := bundlePidFile(p.bundle)
	opts := &runsc.CreateOpts{PidFile: pidFile, IO: p.io.IO(), Rootfs: p.rootfs}
	var socket *runc.Socket
	if p.io.stdio.Terminal {
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
		c, err := receiveTerminal(ctx, socket, runCmd)
		if err != nil {
			return err
		}
		if err := p.io.copyConsole(ctx, c); err != nil {
			return err
		}
	} else if err := p.io.copyPipes(ctx); err != nil {
		return err
	}
	pid, err := runsc.ReadPidFile(pidFile)
	if err != nil {
		return err
	}
	p.pid = pid
	return nil
}

func (p *Init) ID() string { return p.id }

func (p *Init) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pid
}

// ExitPid is the sandbox's pid: the sandbox exits with its init's status.
func (p *Init) ExitPid() int { return p.Pid() }

func (p *Init) ExitStatus() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit.status
}

func (p *Init) ExitedAt() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit.exitedAt
}

func (p *Init) Stdio() stdio.Stdio { return p.io.stdio }

func (p *Init) Status(ctx context.Context) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.status(), nil
}

func (p *Init) Exited() <-chan struct{} { return p.exit.waitBlock }

func (p *Init) Resize(ws console.WinSize) error { return p.io.resize(ws) }

func (p *Init) CloseStdin() error { return p.io.closeStdin() }

func (p *Init) Start(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.start(ctx)
}

func (p *Init) Delete(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.delete(ctx)
}

func (p *Init) Kill(ctx context.Context, sig uint32, all bool) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.kill(ctx, sig, all)
}

func (p *Init) Pause(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.pause(ctx)
}

func (p *Init) Resume(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.resume(ctx)
}

// Checkpoint saves the container to imagePath. The container stops: runsc's
// --leave-running destroys the sandbox and runs a new one in the
// foreground of the checkpoint command, which a shim cannot hand over.
func (p *Init) Checkpoint(ctx context.Context, imagePath string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.checkpoint(ctx, imagePath)
}

func (p *Init) SetExited(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.state.setExited(status)
	// A process deleted before it exited still has waiters to release.
	p.exit.set(status)
}

// Running reports whether execs may start: the init runs and is not paused.
func (p *Init) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state.status() == "running"
}

// Ps lists the pids inside the sandbox; none once the sandbox exited
// (runsc ps refuses a stopped container).
func (p *Init) Ps(ctx context.Context) ([]int, error) {
	p.mu.Lock()
	st := p.state.status()
	p.mu.Unlock()
	if st == "stopped" || st == "deleted" {
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

func (p *Init) delete(ctx context.Context) error {
	err := deleteFromRunsc(ctx, p.runtime, p.id)
	p.cleanup(ctx)
	return err
}
