package proc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/errdefs"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/pkg/stdio"
	"github.com/containerd/fifo"
	runc "github.com/containerd/go-runc"
)

// drainTimeout bounds how long closing waits for output still in flight.
const drainTimeout = 2 * time.Second

// processIO connects a process's stdio to containerd's fifos: through pipes
// (runc.IO) without a terminal, through the console's master with one.
type processIO struct {
	stdio stdio.Stdio
	rio   runc.IO // nil with a terminal or without stdio

	mu      sync.Mutex
	stdin   io.Closer // what CloseStdin closes
	console console.Console
	copies  sync.WaitGroup // output copies still running
}

func newProcessIO(stdio stdio.Stdio, ioUID, ioGID int) (*processIO, error) {
	p := &processIO{stdio: stdio}
	if stdio.Terminal || stdio.IsNull() {
		return p, nil
	}
	for _, path := range []string{stdio.Stdin, stdio.Stdout, stdio.Stderr} {
		if path == "" {
			continue
		}
		if u, err := url.Parse(path); err != nil || (u.Scheme != "" && u.Scheme != "fifo") {
			return nil, fmt.Errorf("unsupported stdio %q: only fifos are supported", path)
		}
	}
	rio, err := runc.NewPipeIO(ioUID, ioGID, func(o *runc.IOOption) {
		o.OpenStdin = stdio.Stdin != ""
		o.OpenStdout = stdio.Stdout != ""
		o.OpenStderr = stdio.Stderr != ""
	})
	if err != nil {
		return nil, fmt.Errorf("creating stdio pipes: %w", err)
	}
	p.rio = rio
	return p, nil
}

// IO is what runsc create/exec gets as its stdio; nil means none.
func (p *processIO) IO() runc.IO { return p.rio }

// copyPipes starts copying between the pipes and the fifos.
func (p *processIO) copyPipes(ctx context.Context) error {
	if p.rio == nil {
		return nil
	}
	outputs := []struct {
		path string
		src  io.Reader
	}{{p.stdio.Stdout, p.rio.Stdout()}, {p.stdio.Stderr, p.rio.Stderr()}}
	for _, o := range outputs {
		if o.path == "" {
			continue
		}
		w, err := fifo.OpenFifo(ctx, o.path, syscall.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", o.path, err)
		}
		p.copyOut(ctx, w, o.src)
	}
	if p.stdio.Stdin == "" {
		return nil
	}
	in, err := fifo.OpenFifo(context.Background(), p.stdio.Stdin, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return fmt.Errorf("opening %s: %w", p.stdio.Stdin, err)
	}
	p.mu.Lock()
	p.stdin = p.rio.Stdin()
	p.mu.Unlock()
	go func() {
		io.Copy(p.rio.Stdin(), in)
		p.rio.Stdin().Close()
		in.Close()
	}()
	return nil
}

func (p *processIO) copyOut(ctx context.Context, w io.WriteCloser, src io.Reader) {
	p.copies.Add(1)
	go func() {
		defer p.copies.Done()
		// Ends when every holder of the pipe's write end (the sandbox, a
		// runsc exec waiter) has exited; a terminal's master reads EIO then.
		if _, err := io.Copy(w, src); err != nil && !isEIO(err) {
			log.G(ctx).WithError(err).Debug("copying process output")
		}
		w.Close()
	}()
}

func isEIO(err error) bool { return errors.Is(err, syscall.EIO) }

// copyConsole connects a terminal's master to the fifos.
func (p *processIO) copyConsole(ctx context.Context, c console.Console) error {
	p.mu.Lock()
	p.console = c
	p.mu.Unlock()
	if p.stdio.Stdout != "" {
		w, err := fifo.OpenFifo(ctx, p.stdio.Stdout, syscall.O_WRONLY, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", p.stdio.Stdout, err)
		}
		p.copyOut(ctx, w, c)
	}
	if p.stdio.Stdin != "" {
		in, err := fifo.OpenFifo(context.Background(), p.stdio.Stdin, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
		if err != nil {
			return fmt.Errorf("opening %s: %w", p.stdio.Stdin, err)
		}
		p.mu.Lock()
		p.stdin = in
		p.mu.Unlock()
		go io.Copy(c, in)
	}
	return nil
}

func (p *processIO) resize(ws console.WinSize) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.console == nil {
		return fmt.Errorf("process has no terminal: %w", errdefs.ErrFailedPrecondition)
	}
	return p.console.Resize(ws)
}

func (p *processIO) closeStdin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdin == nil {
		return nil
	}
	err := p.stdin.Close()
	p.stdin = nil
	return err
}

// close releases the pipes and the console once the process is gone, after
// the output copies have drained.
func (p *processIO) close() {
	drained := make(chan struct{})
	go func() { p.copies.Wait(); close(drained) }()
	// A leftover holder of a pipe must not block Delete forever.
	select {
	case <-drained:
	case <-time.After(drainTimeout):
	}
	p.closeStdin()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	if p.rio != nil {
		p.rio.Close()
	}
}
