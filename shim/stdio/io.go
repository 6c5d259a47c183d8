// Package stdio is the host side of a process's stdio, apart from the
// process state machines (package proc) as containerd keeps pkg/stdio
// apart from pkg/process: fifos, pipes, file:// and binary:// log URIs and
// logging drivers (IO), and a terminal's master received from runsc's
// console socket (ReceiveTerminal).
package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/log"
	cstdio "github.com/containerd/containerd/pkg/stdio"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	runc "github.com/containerd/go-runc"
)

// drainTimeout bounds how long closing waits for output still in flight.
const drainTimeout = 2 * time.Second

// Stdio is containerd's description of a process's stdio: fifo paths or a
// file:// or binary:// URI, and whether the process has a terminal.
type Stdio = cstdio.Stdio

// Config is what a process's stdio is made from.
type Config struct {
	// ID is the process's id (the container's for the init, the exec id
	// for an exec); a logging driver gets it as CONTAINER_ID.
	ID string
	// Namespace is the containerd namespace, a logging driver's
	// CONTAINER_NAMESPACE.
	Namespace string
	// Stdio is where containerd asked for the process's stdio.
	Stdio Stdio
	// UID and GID own the pipes handed to runsc.
	UID, GID int
	// Monitor starts and reaps a logging driver (the shim reaps all of
	// its children).
	Monitor runc.ProcessMonitor
}

// IO connects a process's stdio to where containerd asked for it,
// as containerd-shim does (its pkg/process/io.go):
//   - fifo paths (what containerd's clients and CRI use): output is copied
//     from pipes (runc.IO) or the terminal's master to the fifos;
//   - file:///abs/path: stdout and stderr are appended to the file;
//   - binary:///abs/path?key=value: a logging driver reads the process's
//     stdout and stderr directly (see logDriver).
//
// The outputs are opened before runsc runs, so a bad destination fails
// before any sandbox exists. Create it with Open, hand RuncIO() to runsc,
// then call CopyPipes (or CopyConsole with a terminal); Close once the
// process is gone.
type IO struct {
	stdio Stdio
	rio   runc.IO // handed to runsc; nil with a terminal or without stdio

	// stdout and stderr are where the output copies write; nil when there
	// is no such stream or a logging driver reads the process directly.
	stdout, stderr io.WriteCloser
	driver         *logDriver

	mu      sync.Mutex
	stdin   io.Closer // what CloseStdin closes
	console console.Console
	copies  sync.WaitGroup // output copies still running
	closed  sync.Once      // a failed start closes, and Delete again
}

type stdioKind int

const (
	fifoStdio stdioKind = iota
	fileStdio
	binaryStdio
)

// Open opens the process's stdio (or starts its logging driver) as cfg
// says, ready for runsc; on failure nothing is left open.
func Open(ctx context.Context, cfg Config) (_ *IO, retErr error) {
	sio := cfg.Stdio
	p := &IO{stdio: sio}
	if sio.IsNull() {
		return p, nil
	}
	kind, uri, err := parseStdio(sio)
	if err != nil {
		return nil, err
	}
	defer func() {
		if retErr != nil {
			p.Close()
		}
	}()
	switch kind {
	case fifoStdio:
		if p.stdout, err = openOutput(ctx, sio.Stdout); err != nil {
			return nil, err
		}
		if !sio.Terminal {
			if p.stderr, err = openOutput(ctx, sio.Stderr); err != nil {
				return nil, err
			}
		}
	case fileStdio:
		if p.stdout, err = openLogFile(uri.Path); err != nil {
			return nil, err
		}
		if !sio.Terminal {
			// A descriptor of its own: each output copy closes its
			// writer when it ends, and O_APPEND keeps their lines whole.
			if p.stderr, err = openLogFile(uri.Path); err != nil {
				return nil, err
			}
		}
	case binaryStdio:
		if p.driver, err = startLogDriver(ctx, uri, cfg.ID, cfg.Namespace, cfg.Monitor); err != nil {
			return nil, err
		}
		if sio.Terminal {
			// The terminal's master is copied to the driver's stdout.
			p.stdout = p.driver.takeStdout()
			return p, nil
		}
		// runsc's children write to the driver's pipes directly.
		p.rio = p.driver
		return p, nil
	}
	if sio.Terminal {
		return p, nil
	}
	rio, err := runc.NewPipeIO(cfg.UID, cfg.GID, func(o *runc.IOOption) {
		o.OpenStdin = sio.Stdin != ""
		o.OpenStdout = p.stdout != nil
		o.OpenStderr = p.stderr != nil
	})
	if err != nil {
		return nil, fmt.Errorf("creating stdio pipes: %w", err)
	}
	p.rio = rio
	return p, nil
}

// parseStdio tells which kind of stdio containerd asked for. As in
// containerd-shim, stdout's form decides; file:// and binary:// carry one
// destination for both output streams and take no stdin.
func parseStdio(sio Stdio) (stdioKind, *url.URL, error) {
	first := sio.Stdout
	if first == "" {
		first = sio.Stderr
	}
	if first == "" {
		return fifoStdio, nil, checkFifoPath(sio.Stdin)
	}
	u, err := url.Parse(first)
	if err != nil {
		return 0, nil, fmt.Errorf("stdio %q: %w: %w", first, err, errdefs.ErrInvalidArgument)
	}
	var kind stdioKind
	switch u.Scheme {
	case "":
		for _, path := range []string{sio.Stdin, sio.Stdout, sio.Stderr} {
			if err := checkFifoPath(path); err != nil {
				return 0, nil, err
			}
		}
		return fifoStdio, nil, nil
	case "file":
		kind = fileStdio
	case "binary":
		kind = binaryStdio
	default:
		return 0, nil, fmt.Errorf("stdio %q: unknown scheme %q (want a fifo path, file:///path or binary:///path): %w", first, u.Scheme, errdefs.ErrInvalidArgument)
	}
	if u.Host != "" || u.Opaque != "" || !filepath.IsAbs(u.Path) {
		return 0, nil, fmt.Errorf("stdio %q: the path must be absolute, as in %s:///abs/path: %w", first, u.Scheme, errdefs.ErrInvalidArgument)
	}
	if (sio.Stdout != "" && sio.Stdout != first) || (sio.Stderr != "" && sio.Stderr != first) {
		return 0, nil, fmt.Errorf("stdio: stdout %q and stderr %q differ; a %s:// URI is one destination for both: %w", sio.Stdout, sio.Stderr, u.Scheme, errdefs.ErrInvalidArgument)
	}
	if sio.Stdin != "" {
		return 0, nil, fmt.Errorf("stdio: stdin %q cannot be used with %s:// output: %w", sio.Stdin, u.Scheme, errdefs.ErrInvalidArgument)
	}
	return kind, u, nil
}

func checkFifoPath(path string) error {
	if path != "" && !filepath.IsAbs(path) {
		return fmt.Errorf("stdio %q: want an absolute fifo path, file:///path or binary:///path: %w", path, errdefs.ErrInvalidArgument)
	}
	return nil
}

// openOutput opens the output fifo at path for writing, or appends to it
// when it is a regular file (as containerd-shim does).
func openOutput(ctx context.Context, path string) (io.WriteCloser, error) {
	if path == "" {
		return nil, nil
	}
	isFifo, err := fifo.IsFifo(path)
	if err != nil {
		return nil, fmt.Errorf("stdio %s: %w: %w", path, err, errdefs.ErrFailedPrecondition)
	}
	if !isFifo {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return nil, fmt.Errorf("stdio: %w: %w", err, errdefs.ErrFailedPrecondition)
		}
		return f, nil
	}
	// The shim holds a read end for as long as it writes. Without one, the
	// reader going away (containerd restarting, a client detaching) makes
	// the next write fail with EPIPE and ends the copy for good. With it,
	// output waits in the fifo until a reader opens it again; once the
	// fifo is full, the copy blocks (and then the process), and resumes
	// when a reader drains it. The held end is never read, so nothing is
	// taken from the real reader. Opened first, it also lets the write end
	// open before the client's reader does.
	r, err := fifo.OpenFifo(ctx, path, syscall.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	w, err := fifo.OpenFifo(ctx, path, syscall.O_WRONLY, 0)
	if err != nil {
		r.Close()
		return nil, fmt.Errorf("opening %s: %w", path, err)
	}
	return &heldFifo{WriteCloser: w, reader: r}, nil
}

// heldFifo is an output fifo's write end with the read end the shim holds.
type heldFifo struct {
	io.WriteCloser
	reader io.Closer
	once   sync.Once
}

func (f *heldFifo) Close() error {
	var err error
	f.once.Do(func() { err = errors.Join(f.WriteCloser.Close(), f.reader.Close()) })
	return err
}

// openLogFile opens a file:// destination for appending, creating it and
// its directory as containerd-shim does.
func openLogFile(path string) (io.WriteCloser, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file %s: %w", path, err)
	}
	return f, nil
}

// Stdio is where containerd asked for the process's stdio.
func (p *IO) Stdio() Stdio { return p.stdio }

// RuncIO is what runsc create/exec gets as its stdio; nil means none.
func (p *IO) RuncIO() runc.IO { return p.rio }

// CopyPipes starts copying between the pipes runsc's children hold and
// the process's stdio.
func (p *IO) CopyPipes(ctx context.Context) error {
	if p.rio == nil || p.driver != nil {
		return nil
	}
	if p.stdout != nil {
		p.copyOut(ctx, p.stdout, p.rio.Stdout())
	}
	if p.stderr != nil {
		p.copyOut(ctx, p.stderr, p.rio.Stderr())
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

func (p *IO) copyOut(ctx context.Context, w io.WriteCloser, src io.Reader) {
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

// CopyConsole connects a terminal's master to the process's stdio.
func (p *IO) CopyConsole(ctx context.Context, c console.Console) error {
	p.mu.Lock()
	p.console = c
	p.mu.Unlock()
	if p.stdout != nil {
		p.copyOut(ctx, p.stdout, c)
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

// Resize resizes the process's terminal; FailedPrecondition without one.
func (p *IO) Resize(ws console.WinSize) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.console == nil {
		return fmt.Errorf("process has no terminal: %w", errdefs.ErrFailedPrecondition)
	}
	return p.console.Resize(ws)
}

// CloseStdin closes the process's stdin; later calls, and a process
// without stdin, do nothing.
func (p *IO) CloseStdin() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.stdin == nil {
		return nil
	}
	err := p.stdin.Close()
	p.stdin = nil
	return err
}

// Close releases the stdio once the process is gone, after the output
// copies have drained, and stops a logging driver. Only the first call
// does anything.
func (p *IO) Close() { p.closed.Do(p.release) }

func (p *IO) release() {
	drained := make(chan struct{})
	go func() { p.copies.Wait(); close(drained) }()
	// A leftover holder of a pipe, or a full fifo nobody reads, must not
	// block Delete forever; closing the outputs below ends such a copy.
	select {
	case <-drained:
	case <-time.After(drainTimeout):
	}
	p.CloseStdin()
	p.mu.Lock()
	if p.console != nil {
		p.console.Close()
		p.console = nil
	}
	for _, w := range []io.Closer{p.stdout, p.stderr} {
		if w != nil {
			w.Close()
		}
	}
	if p.rio != nil {
		p.rio.Close()
	}
	p.mu.Unlock()
	if p.driver != nil {
		p.driver.stop()
	}
}
