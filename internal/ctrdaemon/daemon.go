// Package ctrdaemon runs a throwaway containerd daemon in a temporary
// directory: its own root, state and sockets, the CRI plugin disabled
// unless asked for, and the v1 runtime plugin pointed at a chosen shim. Tests (through
// internal/containerdtest), the demo and the bench tool use it.
package ctrdaemon

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"golang.org/x/sys/unix"
)

// V1Runtime is the runtime name containers use to run on the v1 shim API.
const V1Runtime = "io.containerd.runtime.v1.linux"

// Config configures the daemon's v1 runtime plugin.
type Config struct {
	// Shim is the v1 shim binary containerd launches; empty keeps
	// containerd's default (containerd-shim).
	Shim string
	// ShimConfig, when set, is written to a file passed to the shim as
	// -config: containerd itself passes none.
	ShimConfig string
	// ShimArgs are added after containerd's arguments to the shim (where a
	// repeated flag wins). With ShimConfig or ShimArgs, containerd runs a
	// wrapper script in the daemon's directory, as its shim option is a path.
	ShimArgs []string
	// Runtime is the OCI runtime binary name passed to the shim ("runsc").
	Runtime string
	// RuntimeRootBase is the base name of the runtime root created under the
	// daemon's directory ("runsc" or "runc"); empty leaves runtime_root unset.
	RuntimeRootBase string
	// ShimDebug makes containerd pass -debug and copy shim output to its log.
	ShimDebug bool
	// TTRPCSocketName moves the daemon's ttrpc listener to this name in its
	// directory, away from Address + ".ttrpc" where shims look for it, so a
	// test can put a proxy there. Empty keeps containerd's default.
	TTRPCSocketName string
	// CRI, when set, turns the CRI plugin on. It returns the plugins'
	// tables (the v1 runtime's and the CRI plugin's) given the daemon's
	// directory and the shim containerd is to run (the wrapper when
	// ShimConfig or ShimArgs are set); they replace the v1 runtime table
	// built from Runtime, RuntimeRootBase and ShimDebug.
	CRI func(dir, shim string) string
	// Env is added to the daemon's environment (a later PATH wins), and so
	// to the shims it starts.
	Env []string
}

// Daemon is a running containerd with its own directory.
type Daemon struct {
	Dir          string
	Address      string // gRPC socket; shims expect ttrpc on Address + ".ttrpc"
	TTRPCAddress string // where the daemon's ttrpc listener really is
	RuntimeRoot  string // empty when Config.RuntimeRootBase is empty
	ConfigPath   string
	LogPath      string

	binary string
	env    []string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// New starts containerd. The directory lives under /tmp so socket paths
// stay well under the 108-byte unix socket limit. Close stops it and removes
// everything it left.
func New(cfg Config) (*Daemon, error) {
	if binariesErr != nil {
		return nil, binariesErr
	}
	if _, err := exec.LookPath("containerd"); err != nil {
		return nil, fmt.Errorf("containerd not found (install Debian's containerd package): %w", err)
	}
	dir, err := os.MkdirTemp("", "ctrd-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{
		Dir:        dir,
		Address:    filepath.Join(dir, "c.sock"),
		ConfigPath: filepath.Join(dir, "config.toml"),
		LogPath:    filepath.Join(dir, "containerd.log"),
		binary:     "containerd",
		env:        cfg.Env,
	}
	d.TTRPCAddress = d.Address + ".ttrpc"
	if cfg.TTRPCSocketName != "" {
		d.TTRPCAddress = filepath.Join(dir, cfg.TTRPCSocketName)
	}
	if cfg.RuntimeRootBase != "" {
		d.RuntimeRoot = filepath.Join(dir, cfg.RuntimeRootBase)
	}
	if cfg.ShimConfig != "" || len(cfg.ShimArgs) > 0 {
		wrapper, err := d.shimWrapper(cfg)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		cfg.Shim = wrapper
	}
	if err := os.WriteFile(d.ConfigPath, []byte(d.config(cfg)), 0o644); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := d.Restart(); err != nil {
		d.Close()
		return nil, err
	}
	return d, nil
}

// Close stops the daemon, kills every process left over from it (shims,
// runsc sandboxes: all carry the directory in their command line),
// unmounts what is mounted under its directory and removes it.
func (d *Daemon) Close() error {
	err := d.Stop()
	killProcessesMentioning(d.Dir)
	unmountUnder(d.Dir)
	if rmErr := os.RemoveAll(d.Dir); err == nil {
		err = rmErr
	}
	return err
}

// LogTail returns the last n bytes of the daemon's log.
func (d *Daemon) LogTail(n int) string {
	b, _ := os.ReadFile(d.LogPath)
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// shimWrapper writes the script containerd runs as its shim: cfg.Shim with
// -config and cfg.ShimArgs after containerd's own arguments.
func (d *Daemon) shimWrapper(cfg Config) (string, error) {
	shim := cfg.Shim
	if shim == "" {
		shim = "containerd-shim"
	}
	args := cfg.ShimArgs
	if cfg.ShimConfig != "" {
		path := filepath.Join(d.Dir, "shim.toml")
		if err := os.WriteFile(path, []byte(cfg.ShimConfig), 0o644); err != nil {
			return "", err
		}
		args = append([]string{"-config", path}, args...)
	}
	script := "#!/bin/sh\nexec " + shellQuote(shim) + ` "$@"`
	for _, a := range args {
		script += " " + shellQuote(a)
	}
	wrapper := filepath.Join(d.Dir, "shim")
	return wrapper, os.WriteFile(wrapper, []byte(script+"\n"), 0o755)
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func (d *Daemon) config(cfg Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "version = 2\nroot = %q\nstate = %q\n", filepath.Join(d.Dir, "root"), filepath.Join(d.Dir, "state"))
	if cfg.CRI == nil {
		b.WriteString("disabled_plugins = [\"io.containerd.grpc.v1.cri\"]\n")
	}
	fmt.Fprintf(&b, "[grpc]\n  address = %q\n", d.Address)
	fmt.Fprintf(&b, "[ttrpc]\n  address = %q\n", d.TTRPCAddress)
	b.WriteString("[debug]\n  level = \"debug\"\n")
	if cfg.CRI != nil {
		b.WriteString(cfg.CRI(d.Dir, cfg.Shim))
		return b.String()
	}
	b.WriteString("[plugins.\"io.containerd.runtime.v1.linux\"]\n")
	if cfg.Shim != "" {
		fmt.Fprintf(&b, "  shim = %q\n", cfg.Shim)
	}
	if cfg.Runtime != "" {
		fmt.Fprintf(&b, "  runtime = %q\n", cfg.Runtime)
	}
	if d.RuntimeRoot != "" {
		fmt.Fprintf(&b, "  runtime_root = %q\n", d.RuntimeRoot)
	}
	fmt.Fprintf(&b, "  shim_debug = %v\n", cfg.ShimDebug)
	return b.String()
}

// Restart starts the daemon again after Stop or Kill, on the same sockets
// and state, and waits until it serves.
func (d *Daemon) Restart() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd != nil {
		return fmt.Errorf("containerd already running (pid %d)", d.cmd.Process.Pid)
	}
	logf, err := os.OpenFile(d.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(d.binary, "--config", d.ConfigPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if len(d.env) > 0 {
		cmd.Env = append(os.Environ(), d.env...)
	}
	// Own process group: a ^C on the test must not reach the daemon first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start containerd: %w", err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		logf.Close()
		close(exited)
	}()
	d.cmd, d.exited = cmd, exited
	return d.waitServing(exited)
}

func (d *Daemon) waitServing(exited chan struct{}) error {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return fmt.Errorf("containerd exited during start; log %s:\n%s", d.LogPath, d.LogTail(4<<10))
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		c, err := containerd.New(d.Address, containerd.WithTimeout(time.Second))
		if err == nil {
			_, err = c.Version(ctx)
			c.Close()
		}
		cancel()
		if err == nil {
			if _, err := os.Stat(d.TTRPCAddress); err == nil {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("containerd did not serve on %s within 30s; log:\n%s", d.Address, d.LogTail(4<<10))
}

// Stop terminates the daemon (SIGTERM, then SIGKILL after 10s). Shims keep
// running, as they do when a real containerd restarts.
func (d *Daemon) Stop() error { return d.signalAndWait(syscall.SIGTERM, 10*time.Second) }

// Kill SIGKILLs the daemon, as a crash would.
func (d *Daemon) Kill() error { return d.signalAndWait(syscall.SIGKILL, 10*time.Second) }

func (d *Daemon) signalAndWait(sig syscall.Signal, grace time.Duration) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return nil
	}
	d.cmd.Process.Signal(sig)
	select {
	case <-d.exited:
	case <-time.After(grace):
		d.cmd.Process.Kill()
		<-d.exited
	}
	d.cmd = nil
	return nil
}

// Pause freezes the daemon with SIGSTOP.
func (d *Daemon) Pause() error { return d.signal(syscall.SIGSTOP) }

// Resume thaws a paused daemon with SIGCONT.
func (d *Daemon) Resume() error { return d.signal(syscall.SIGCONT) }

func (d *Daemon) signal(sig syscall.Signal) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return fmt.Errorf("containerd is not running")
	}
	return d.cmd.Process.Signal(sig)
}

// Pid returns the daemon's pid, or 0 when it is stopped.
func (d *Daemon) Pid() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cmd == nil {
		return 0
	}
	return d.cmd.Process.Pid
}

func killProcessesMentioning(dir string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	self := fmt.Sprintf("/proc/%d/", os.Getpid())
	for _, p := range procs {
		if strings.HasPrefix(p, self) {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil || !mentionsDir(b, dir) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(p, "/proc/%d/cmdline", &pid); err == nil {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return
	}
	var targets []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 && isUnder(f[4], dir) {
			targets = append(targets, f[4])
		}
	}
	// Deepest first.
	for i := len(targets) - 1; i >= 0; i-- {
		unix.Unmount(targets[i], unix.MNT_DETACH)
	}
}

// isUnder reports whether path is dir or inside it. A plain prefix match
// would also take a sibling whose name extends dir's (ctrd-12 and ctrd-123,
// another test's daemon).
func isUnder(path, dir string) bool {
	return path == dir || strings.HasPrefix(path, dir+"/")
}

// mentionsDir reports whether a NUL-separated command line names dir or a
// path inside it anywhere in an argument (as in --root=dir/state), with the
// same sibling exclusion as isUnder.
func mentionsDir(cmdline []byte, dir string) bool {
	for rest := cmdline; ; {
		i := bytes.Index(rest, []byte(dir))
		if i < 0 {
			return false
		}
		rest = rest[i+len(dir):]
		if len(rest) == 0 || rest[0] == '/' || rest[0] == 0 {
			return true
		}
	}
}
