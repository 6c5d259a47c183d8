package stdio

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd/log"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// driverReadyTimeout bounds the wait for a driver to close fd 5: the
// Create or Exec RPC waits meanwhile. containerd-shim waits forever. A
// variable so tests can shorten it.
var driverReadyTimeout = 30 * time.Second

// driverTermTimeout is how long a logging driver gets to exit after
// SIGTERM before it is killed (containerd-shim gives it 12 s in all).
const driverTermTimeout = 10 * time.Second

// logDriver is a binary:// logging driver, started with containerd-shim's
// contract: the process's stdout and stderr are its fds 3 and 4, it closes
// fd 5 once it is ready, and its environment is CONTAINER_ID and
// CONTAINER_NAMESPACE only; the URI's query gives its arguments
// (?key=value → key value).
//
// It is the runc.IO handed to runsc: runsc's children write straight into
// the driver's pipes. Unlike containerd-shim, which keeps its copies of the
// write ends until Delete, the shim drops them as soon as runsc has
// started, so the driver reads EOF when the process (and every holder of
// its stdio) is gone and can flush and exit by itself. stop, at Delete,
// waits for that, then sends SIGTERM, then SIGKILL.
type logDriver struct {
	cmd     *exec.Cmd
	monitor runc.ProcessMonitor
	exited  chan struct{}

	mu             sync.Mutex
	stdout, stderr *os.File // the write ends while the shim holds them
}

var _ runc.IO = (*logDriver)(nil)

func startLogDriver(ctx context.Context, uri *url.URL, id, namespace string, monitor runc.ProcessMonitor) (_ *logDriver, retErr error) {
	if namespace == "" {
		return nil, fmt.Errorf("logging driver %s: no namespace for CONTAINER_NAMESPACE: %w", uri.Path, errdefs.ErrInvalidArgument)
	}
	if st, err := os.Stat(uri.Path); err != nil {
		return nil, fmt.Errorf("logging driver: %w: %w", err, errdefs.ErrFailedPrecondition)
	} else if !st.Mode().IsRegular() || st.Mode().Perm()&0o111 == 0 {
		return nil, fmt.Errorf("logging driver %s: not an executable file: %w", uri.Path, errdefs.ErrFailedPrecondition)
	}
	var files []*os.File
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	pipe := func() (r, w *os.File, err error) {
		if r, w, err = os.Pipe(); err != nil {
			return nil, nil, fmt.Errorf("logging driver pipes: %w", err)
		}
		files = append(files, r, w)
		return r, w, nil
	}
	outR, outW, err := pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := pipe()
	if err != nil {
		return nil, err
	}
	readyR, readyW, err := pipe()
	if err != nil {
		return nil, err
	}

	query := uri.Query()
	keys := make([]string, 0, len(query))
	for k := range query {
		keys = append(keys, k)
	}
	sort.Strings(keys) // a stable order; containerd-shim's follows its map
	var args []string
	for _, k := range keys {
		args = append(args, k)
		if v := query[k]; len(v) > 0 {
			args = append(args, v[0])
		}
	}
	cmd := exec.Command(uri.Path, args...)
	cmd.Env = []string{"CONTAINER_ID=" + id, "CONTAINER_NAMESPACE=" + namespace}
	cmd.ExtraFiles = []*os.File{outR, errR, readyW}
	ec, err := monitor.Start(cmd)
	if err != nil {
		return nil, fmt.Errorf("starting logging driver %s: %w: %w", uri.Path, err, errdefs.ErrFailedPrecondition)
	}
	d := &logDriver{cmd: cmd, monitor: monitor, exited: make(chan struct{}), stdout: outW, stderr: errW}
	go func() {
		monitor.Wait(cmd, ec)
		close(d.exited)
	}()
	// The driver has its ends; only the write ends stay with the shim.
	files = []*os.File{outR, errR, readyW, readyR}
	defer func() {
		if retErr != nil {
			d.stop()
		}
	}()
	readyW.Close()
	ready := make(chan error, 1)
	go func() {
		// EOF (fd 5 closed, or the driver gone) means ready, as in
		// containerd-shim.
		_, err := readyR.Read(make([]byte, 1))
		if errors.Is(err, io.EOF) {
			err = nil
		}
		ready <- err
	}()
	select {
	case err := <-ready:
		if err != nil {
			return nil, fmt.Errorf("waiting for logging driver %s: %w", uri.Path, err)
		}
	case <-ctx.Done():
		return nil, fmt.Errorf("waiting for logging driver %s to close fd 5: %w", uri.Path, ctx.Err())
	case <-time.After(driverReadyTimeout):
		return nil, fmt.Errorf("logging driver %s did not close fd 5 (ready) within %v: %w", uri.Path, driverReadyTimeout, errdefs.ErrFailedPrecondition)
	}
	log.G(ctx).WithField("driver", uri.Path).WithField("pid", cmd.Process.Pid).Debug("logging driver ready")
	return d, nil
}

// Set gives runsc the driver's write ends as its stdout and stderr.
func (d *logDriver) Set(cmd *exec.Cmd) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stdout != nil {
		cmd.Stdout = d.stdout
	}
	if d.stderr != nil {
		cmd.Stderr = d.stderr
	}
}

// CloseAfterStart drops the shim's write ends once runsc has them.
func (d *logDriver) CloseAfterStart() error { return d.Close() }

// Close drops the write ends the shim still holds; the driver reads EOF
// once no one else holds them.
func (d *logDriver) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	var errs []error
	for _, f := range []**os.File{&d.stdout, &d.stderr} {
		if *f != nil {
			errs = append(errs, (*f).Close())
			*f = nil
		}
	}
	return errors.Join(errs...)
}

// takeStdout hands the stdout write end to a copy (the terminal's) and
// drops stderr, which a terminal does not have.
func (d *logDriver) takeStdout() io.WriteCloser {
	d.mu.Lock()
	defer d.mu.Unlock()
	w := d.stdout
	d.stdout = nil
	d.stderr.Close()
	d.stderr = nil
	return w
}

func (d *logDriver) Stdin() io.WriteCloser { return nil }
func (d *logDriver) Stdout() io.ReadCloser { return nil }
func (d *logDriver) Stderr() io.ReadCloser { return nil }

// stop waits for the driver to exit by itself once its streams have ended,
// then asks it with SIGTERM, then kills it.
func (d *logDriver) stop() {
	d.Close()
	select {
	case <-d.exited:
		return
	case <-time.After(drainTimeout):
	}
	log.L.WithField("pid", d.cmd.Process.Pid).Warn("logging driver still running after its streams ended; sending SIGTERM")
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
		return
	case <-time.After(driverTermTimeout):
	}
	log.L.WithField("pid", d.cmd.Process.Pid).Warn("logging driver ignored SIGTERM; killing it")
	d.cmd.Process.Kill()
	<-d.exited
}
