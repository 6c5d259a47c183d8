// Package runsc runs the runsc command (gVisor's OCI runtime) for the shim:
// it builds each command line from the runtime root, the log file and the
// [runsc_config] flags, starts it through a process monitor (the shim is a
// subreaper, so its children must be reaped by one reaper) with a
// parent-death signal (package lifetime), and turns a
// failure into an error that carries runsc's own message from its log.
package runsc

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/containerd/sys/reaper"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
	"github.com/google/gvisor-containerd-shim/shim/runsc/lifetime"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// DefaultCommand is the runtime binary used when containerd names none.
const DefaultCommand = "runsc"

// Runsc runs runsc commands for one container.
type Runsc struct {
	// Command is the runsc binary (name or path).
	Command string
	// Root is runsc's state directory (--root).
	Root string
	// Log is runsc's log file (--log, JSON format); failures are explained
	// from its last error entry.
	Log string
	// Flags are extra global flags, already in "--key=value" form.
	Flags []string
	// Monitor starts and waits for the commands; reaper.Default when nil.
	Monitor runc.ProcessMonitor
}

// New returns a Runsc for container id. config holds [runsc_config]
// entries; each becomes the global flag --key=value, with %ID% in the
// value replaced by id.
func New(command, root, logPath, id string, config map[string]string) *Runsc {
	if command == "" {
		command = DefaultCommand
	}
	keys := make([]string, 0, len(config))
	for k := range config {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	flags := make([]string, 0, len(keys))
	for _, k := range keys {
		flags = append(flags, "--"+k+"="+strings.ReplaceAll(config[k], "%ID%", id))
	}
	return &Runsc{Command: command, Root: root, Log: logPath, Flags: flags}
}

// ProcessMonitor is what starts and reaps runsc's commands, and any other
// child of the shim's (a logging driver).
func (r *Runsc) ProcessMonitor() runc.ProcessMonitor {
	if r.Monitor != nil {
		return r.Monitor
	}
	return reaper.Default
}

func (r *Runsc) globalArgs() []string {
	var args []string
	if r.Root != "" {
		args = append(args, "--root", r.Root)
	}
	if r.Log != "" {
		args = append(args, "--log", r.Log, "--log-format", "json")
	}
	return append(args, r.Flags...)
}

func (r *Runsc) command(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, r.Command, append(r.globalArgs(), args...)...)
}

// Error is a failed runsc command.
type Error struct {
	Args []string // the subcommand and its arguments
	Err  error    // how the process failed
	Msg  string   // runsc's own last error message, if any
}

// Error names the subcommand and runsc's own message, or how it failed.
func (e *Error) Error() string {
	if e.Msg != "" {
		return fmt.Sprintf("runsc %s: %s", e.Args[0], e.Msg)
	}
	return fmt.Sprintf("runsc %s: %v", e.Args[0], e.Err)
}

// Unwrap gives the process failure, e.g. an *exec.ExitError.
func (e *Error) Unwrap() error { return e.Err }

// run runs cmd to completion and returns its stdout. On failure the error
// carries runsc's message from the log (or its stderr).
func (r *Runsc) run(cmd *exec.Cmd, rio runc.IO) ([]byte, error) {
	return r.runIO(cmd, rio, true)
}

// runDetaching runs a command that leaves processes behind (a sandbox, its
// gofer, an app container's process) which inherit its stdio: rio, or
// /dev/null. Capturing their output instead would wait for those processes
// to exit.
func (r *Runsc) runDetaching(cmd *exec.Cmd, rio runc.IO) error {
	_, err := r.runIO(cmd, rio, false)
	return err
}

func (r *Runsc) runIO(cmd *exec.Cmd, rio runc.IO, capture bool) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	if rio != nil {
		rio.Set(cmd)
	} else if capture {
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
	}
	logOffset := r.logSize()
	ec, err := lifetime.Start(r.ProcessMonitor(), cmd)
	if err != nil {
		msg, err := startFailure(r.Command, err)
		return nil, &Error{Args: cmd.Args[len(r.globalArgs())+1:], Err: err, Msg: msg}
	}
	var closeErr error
	if c, ok := rio.(runc.StartCloser); ok {
		// The child has its ends of the pipes; ours must go, or reading
		// them would never see EOF.
		closeErr = c.CloseAfterStart()
	}
	status, err := r.ProcessMonitor().Wait(cmd, ec)
	if err == nil && status != 0 {
		err = fmt.Errorf("exit status %d", status)
	}
	if err == nil && closeErr != nil {
		return nil, fmt.Errorf("runsc %s: closing the child's stdio: %w", cmd.Args[len(r.globalArgs())+1], closeErr)
	}
	if err != nil {
		msg := r.logError(logOffset)
		if msg == "" {
			msg = lastLine(stderr.String())
		}
		return stdout.Bytes(), &Error{Args: cmd.Args[len(r.globalArgs())+1:], Err: err, Msg: msg}
	}
	return stdout.Bytes(), nil
}

// startFailure explains why a command did not start. A missing runsc is the
// node's setup, not the request's fault: FailedPrecondition, the class of a
// config the shim cannot use, so that clients see it as such.
func startFailure(command string, err error) (string, error) {
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return fmt.Sprintf("runtime binary %q not found (is gVisor's runsc installed?)", command), fmt.Errorf("%w: %w", err, errdefs.ErrFailedPrecondition)
	}
	return err.Error(), err
}

func (r *Runsc) logSize() int64 {
	if r.Log == "" {
		return 0
	}
	fi, err := os.Stat(r.Log)
	if err != nil {
		return 0
	}
	return fi.Size()
}

// logError returns the message of the last error entry runsc wrote to its
// JSON log after offset.
func (r *Runsc) logError(offset int64) string {
	if r.Log == "" {
		return ""
	}
	f, err := os.Open(r.Log)
	if err != nil {
		return ""
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return ""
	}
	b, err := io.ReadAll(io.LimitReader(f, 1<<20))
	if err != nil {
		return ""
	}
	var msg string
	for _, line := range bytes.Split(b, []byte("\n")) {
		var entry struct {
			Msg   string `json:"msg"`
			Level string `json:"level"`
		}
		if json.Unmarshal(line, &entry) != nil {
			continue
		}
		if entry.Level == "error" || entry.Level == "fatal" {
			msg = entry.Msg
		}
	}
	return msg
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// CreateOpts are the options of Create and Restore.
type CreateOpts struct {
	PidFile string
	// ConsoleSocket receives the terminal's master; nil without a terminal.
	ConsoleSocket runc.ConsoleSocket
	// IO becomes the container's stdio when there is no terminal.
	IO runc.IO
	// Rootfs is the rootfs mount the shim made for the container, if any:
	// if the shim dies during the command, its guard unmounts it.
	Rootfs string
}

func (o *CreateOpts) args() []string {
	var args []string
	if o.PidFile != "" {
		args = append(args, "--pid-file", o.PidFile)
	}
	if o.ConsoleSocket != nil {
		args = append(args, "--console-socket", o.ConsoleSocket.Path())
	}
	return args
}

// Create runs `runsc create`: the sandbox is up, the container not started.
func (r *Runsc) Create(ctx context.Context, id, bundle string, opts *CreateOpts) error {
	if err := r.fitBundleCapabilities(ctx, bundle); err != nil {
		return fmt.Errorf("create %s: %w", id, err)
	}
	return r.runCreating(ctx, id, append([]string{"create", "--bundle", bundle}, opts.args()...), opts)
}

// Restore runs `runsc restore --detach`: the container is created from the
// checkpoint image and running when it returns.
func (r *Runsc) Restore(ctx context.Context, id, bundle, imagePath string, opts *CreateOpts) error {
	return r.runCreating(ctx, id, append([]string{"restore", "--detach", "--bundle", bundle, "--image-path", imagePath}, opts.args()...), opts)
}

// runCreating runs create or restore under a guard (package lifetime)
// when the shim enabled guards.
func (r *Runsc) runCreating(ctx context.Context, id string, args []string, opts *CreateOpts) error {
	cmd := r.command(ctx, append(args, id)...)
	// The delete logs nowhere: containerd renames the bundle, the log's
	// directory, when the create fails.
	unlogged := *r
	unlogged.Log = ""
	guarded, err := lifetime.Guard(ctx, cmd, unlogged.command(ctx, "delete", "--force", id).Args, opts.Rootfs)
	if err != nil {
		return err
	}
	return r.runDetaching(guarded, opts.IO)
}

// Start runs `runsc start` of a sandbox's root container.
func (r *Runsc) Start(ctx context.Context, id string) error {
	_, err := r.run(r.command(ctx, "start", id), nil)
	return err
}

// StartApp runs `runsc start` of an app container of a pod: runsc hands
// the container the stdio of its start command, rio or /dev/null (never a
// capture pipe, which the container would hold open).
func (r *Runsc) StartApp(ctx context.Context, id string, rio runc.IO) error {
	return r.runDetaching(r.command(ctx, "start", id), rio)
}

// State is what `runsc state` reports of a container.
type State struct {
	ID     string `json:"id"`
	Status string `json:"status"` // created, running, paused or stopped
	Pid    int    `json:"pid"`    // the sandbox's host pid; -1 once stopped
}

// State runs `runsc state`.
func (r *Runsc) State(ctx context.Context, id string) (*State, error) {
	out, err := r.run(r.command(ctx, "state", id), nil)
	if err != nil {
		return nil, err
	}
	var st State
	if err := json.Unmarshal(out, &st); err != nil {
		return nil, fmt.Errorf("runsc state: unexpected output %q: %w", out, err)
	}
	return &st, nil
}

// Wait runs `runsc wait` and returns the container's exit status (128+n
// after signal n). It blocks until the container's init exits; runsc
// refuses it before the container started.
func (r *Runsc) Wait(ctx context.Context, id string) (int, error) {
	out, err := r.run(r.command(ctx, "wait", id), nil)
	if err != nil {
		return 0, err
	}
	var res struct {
		ExitStatus *int `json:"exitStatus"`
	}
	if err := json.Unmarshal(out, &res); err != nil || res.ExitStatus == nil {
		return 0, fmt.Errorf("runsc wait: unexpected output %q", out)
	}
	return *res.ExitStatus, nil
}

// IsNotExist reports whether err is runsc saying the container does not
// exist (in its state directory).
func IsNotExist(err error) bool { return says(err, "does not exist") }

// says reports whether err is a runsc failure whose message contains text.
func says(err error, text string) bool {
	var rerr *Error
	return errors.As(err, &rerr) && strings.Contains(rerr.Msg, text)
}

// ExecOpts are the options of Exec.
type ExecOpts struct {
	PidFile         string
	InternalPidFile string
	// Terminal gives the process a pty; Exec returns its master.
	Terminal bool
	// IO is the process's stdio without a terminal.
	IO runc.IO
}

// Exec starts spec in the container and returns once it runs there, with
// the host pid of its waiter: a `runsc exec` left running as the shim's
// child, whose exit status is the process's, and with opts.Terminal the
// master of the process's pty.
//
// It starts that waiter itself rather than through `runsc exec --detach`,
// whose parent polls for the pid file and then checks, apart, that the
// waiter is alive: if the process exits in between (a short exec on a
// loaded node), the parent reaps the waiter, the exit status is lost, and
// it fails with 128 and no message although the process ran
// (docs/reliability.md). For a terminal it does what that parent would:
// it makes the pty and runs the waiter on its replica as the controlling
// terminal of a new session, which runsc takes for a terminal exec.
func (r *Runsc) Exec(ctx context.Context, id string, spec specs.Process, opts *ExecOpts) (waiterPid int, master console.Console, _ error) {
	if spec.Capabilities != nil {
		caps := *spec.Capabilities // fitCapabilities leaves the caller's sets alone
		spec.Capabilities = &caps
		r.fitCapabilities(ctx, "exec in "+id, spec.Capabilities)
	}
	f, err := os.CreateTemp(filepath.Dir(opts.PidFile), "process-*.json")
	if err != nil {
		return 0, nil, fmt.Errorf("writing process spec: %w", err)
	}
	defer os.Remove(f.Name())
	err = json.NewEncoder(f).Encode(spec)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, nil, fmt.Errorf("writing process spec: %w", err)
	}
	args := []string{"exec", "--process", f.Name(), "--pid-file", opts.PidFile}
	if opts.InternalPidFile != "" {
		args = append(args, "--internal-pid-file", opts.InternalPidFile)
	}
	// The waiter outlives the request.
	waiter := r.command(context.WithoutCancel(ctx), append(args, id)...)
	rio := opts.IO
	var replica *os.File
	if opts.Terminal {
		if master, replica, err = openPty(); err != nil {
			return 0, nil, fmt.Errorf("runsc exec: %w", err)
		}
		// The waiter holds the replica from here: the master reads EOF
		// once the process and the waiter are gone.
		defer replica.Close()
		waiter.Stdin, waiter.Stdout, waiter.Stderr = replica, replica, replica
		waiter.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
		rio = nil
	}
	if err := r.startWaiter(ctx, waiter, opts.PidFile, rio); err != nil {
		if master != nil {
			master.Close()
		}
		return 0, nil, err
	}
	return waiter.Process.Pid, master, nil
}

// openPty opens a new pty: its master, and its replica, which is not the
// shim's controlling terminal.
func openPty() (console.Console, *os.File, error) {
	master, name, err := console.NewPty()
	if err != nil {
		return nil, nil, fmt.Errorf("opening a pty: %w", err)
	}
	replica, err := os.OpenFile(name, os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		master.Close()
		return nil, nil, fmt.Errorf("opening the pty's replica: %w", err)
	}
	return master, replica, nil
}

// ReadPidFile reads a pid file runsc wrote.
func ReadPidFile(path string) (int, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading runsc's pid file: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("runsc's pid file %s holds %q, not a pid", path, b)
	}
	return pid, nil
}

// startWaiter starts a non-detached `runsc exec` and waits until it wrote
// a pid to pidFile (the process runs in the sandbox; the pid is not checked
// against the waiter's, which a wrapper script of runsc's would hide), or exited
// before that (the exec failed: its status and runsc's message are the
// error), or ctx ended (it is killed). Its exit, once running, is the
// caller's to collect from the monitor's other subscribers (the shim's
// reaper loop).
func (r *Runsc) startWaiter(ctx context.Context, cmd *exec.Cmd, pidFile string, rio runc.IO) error {
	if rio != nil {
		rio.Set(cmd)
	}
	subcommand := cmd.Args[len(r.globalArgs())+1:]
	logOffset := r.logSize()
	ec, err := lifetime.Start(r.ProcessMonitor(), cmd)
	if err != nil {
		msg, err := startFailure(r.Command, err)
		return &Error{Args: subcommand, Err: err, Msg: msg}
	}
	var closeErr error
	if c, ok := rio.(runc.StartCloser); ok {
		closeErr = c.CloseAfterStart()
	}
	exited := make(chan error, 1)
	go func() {
		status, err := r.ProcessMonitor().Wait(cmd, ec)
		if err == nil && status != 0 {
			err = fmt.Errorf("exit status %d", status)
		}
		exited <- err
	}()
	wrote := func() bool {
		_, err := ReadPidFile(pidFile)
		return err == nil
	}
	poll := time.Millisecond
	for !wrote() {
		select {
		case err := <-exited:
			// Written before it exited, or never: no race with the file.
			if wrote() {
				return closeErr
			}
			if err == nil {
				err = errors.New("exited without writing its pid file")
			}
			return &Error{Args: subcommand, Err: err, Msg: r.logError(logOffset)}
		case <-ctx.Done():
			cmd.Process.Kill()
			return fmt.Errorf("runsc exec: %w", ctx.Err())
		case <-time.After(poll):
			poll = min(2*poll, 100*time.Millisecond)
		}
	}
	if closeErr != nil {
		return fmt.Errorf("runsc exec: closing the child's stdio: %w", closeErr)
	}
	return nil
}

// Kill runs `runsc kill`; all sends sig to every process of the container,
// pid > 0 only to that process (a pid in the sandbox's root namespace).
func (r *Runsc) Kill(ctx context.Context, id string, sig int, all bool, pid int) error {
	args := []string{"kill"}
	if all {
		args = append(args, "--all")
	}
	if pid > 0 {
		args = append(args, "--pid", strconv.Itoa(pid))
	}
	_, err := r.run(r.command(ctx, append(args, id, strconv.Itoa(sig))...), nil)
	if says(err, "no such process") {
		// The process already exited: containerd (and CRI's stop) treat a
		// NotFound kill as done and wait for the exit.
		return fmt.Errorf("%w: %w", err, errdefs.ErrNotFound)
	}
	return err
}

// Delete runs `runsc delete`.
func (r *Runsc) Delete(ctx context.Context, id string, force bool) error {
	args := []string{"delete"}
	if force {
		args = append(args, "--force")
	}
	_, err := r.run(r.command(ctx, append(args, id)...), nil)
	return err
}

// Ps runs `runsc ps --format json` and returns the container's pids.
func (r *Runsc) Ps(ctx context.Context, id string) ([]int, error) {
	out, err := r.run(r.command(ctx, "ps", "--format", "json", id), nil)
	if err != nil {
		return nil, err
	}
	var pids []int
	if err := json.Unmarshal(out, &pids); err != nil {
		return nil, fmt.Errorf("runsc ps: unexpected output %q: %w", out, err)
	}
	return pids, nil
}

// Pause runs `runsc pause`.
func (r *Runsc) Pause(ctx context.Context, id string) error {
	_, err := r.run(r.command(ctx, "pause", id), nil)
	return err
}

// Resume runs `runsc resume`.
func (r *Runsc) Resume(ctx context.Context, id string) error {
	_, err := r.run(r.command(ctx, "resume", id), nil)
	return err
}

// Checkpoint runs `runsc checkpoint` into imagePath; without leaveRunning
// the container stops.
func (r *Runsc) Checkpoint(ctx context.Context, id, imagePath string, leaveRunning bool) error {
	args := []string{"checkpoint", "--image-path", imagePath}
	if leaveRunning {
		args = append(args, "--leave-running")
	}
	_, err := r.run(r.command(ctx, append(args, id)...), nil)
	return err
}
