package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"syscall"
	"testing"
	"time"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
	"github.com/google/gvisor-containerd-shim/shim/config"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

const errPrefix = "gvisor-containerd-shim: "

// dialEnv makes the test binary a ttrpc client of the abstract socket it
// names (see TestMain), for TestRejectsOtherUsers.
const dialEnv = "SHIM_TEST_DIAL_ABSTRACT"

// procsEnv makes the test binary print its GOMAXPROCS and exit, for
// TestOneProcUnderContainerd.
const procsEnv = "SHIM_TEST_PRINT_PROCS"

func TestMain(m *testing.M) {
	if name := os.Getenv(dialEnv); name != "" {
		os.Exit(dialAndCall(name))
	}
	if os.Getenv(procsEnv) != "" {
		fmt.Print(runtime.GOMAXPROCS(0))
		os.Exit(0)
	}
	code := m.Run()
	containerdtest.RemoveShim()
	os.Exit(code)
}

// dialAndCall calls ShimInfo on the abstract socket name: exit 0 if it
// answered, 1 otherwise.
func dialAndCall(name string) int {
	conn, err := net.Dial("unix", "\x00"+name)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		return 1
	}
	c := ttrpc.NewClient(conn)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := shimapi.NewShimClient(c).ShimInfo(ctx, &ptypes.Empty{}); err != nil {
		fmt.Fprintln(os.Stderr, "ShimInfo:", err)
		return 1
	}
	return 0
}

// runShim runs the binary to completion in dir and returns its exit code and
// stderr.
func runShim(t *testing.T, dir string, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(containerdtest.BuildShim(t), args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exitErr *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exitErr):
		return exitErr.ExitCode(), stderr.String()
	default:
		t.Fatalf("run shim: %v", err)
		return 0, ""
	}
}

func writeFile(t *testing.T, path, content string, perm os.FileMode) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), perm); err != nil {
		t.Fatal(err)
	}
	return path
}

func testdata(name string) string {
	return filepath.Join("..", "..", "testdata", "config", name)
}

// Started by hand with bad input, the shim prints one line prefixed with its
// name on stderr and exits non-zero, before serving anything. A config it
// cannot use is such an error only when there is no socket to serve on
// (TestUnusableConfigFailsCreate: with one, it serves).
func TestFatalErrorsAreOneLine(t *testing.T) {
	dir := t.TempDir()
	abs := func(p string) string {
		a, err := filepath.Abs(p)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	runsc := []string{"-runtime-root", filepath.Join(dir, "runsc"), "-address", filepath.Join(dir, "c.sock")}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no namespace", runsc, "-namespace is required"},
		{"no address", []string{"-runtime-root", "/run/containerd/runsc", "-namespace", "default"}, "-address is required"},
		{"socket too long", append([]string{"-namespace", "default", "-socket", "/" + strings.Repeat("s", 106)}, runsc...), "unix socket path too long"},
		{"malformed config", append([]string{"-namespace", "default", "-config", abs(testdata("malformed.toml"))}, runsc...), "malformed.toml: line 4"},
		{"unknown key", append([]string{"-namespace", "default", "-config", abs(testdata("unknown-key.toml"))}, runsc...), `unknown key "publisher.queue_sise"`},
		{"wrong type", append([]string{"-namespace", "default", "-config", abs(testdata("wrong-type.toml"))}, runsc...), "publisher.queue_size"},
		{"bad mode", append([]string{"-namespace", "default", "-config", abs(testdata("bad-mode.toml"))}, runsc...), `unknown publisher mode "carrier-pigeon"`},
		// The exec hack reads the config too: a broken one fails there.
		{"bad config on the runc path", []string{"-namespace", "default", "-runtime-root", "/run/containerd/runc", "-config", abs(testdata("malformed.toml"))}, "malformed.toml: line 4"},
		{"unknown flag", []string{"-no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{"bad config and no socket", append([]string{"-namespace", "default", "-config", abs(testdata("bad-mode.toml"))}, runsc...), `"carrier-pigeon" (want auto, ttrpc, grpc or exec) (and no socket to report it on: no listening socket inherited as fd 3`},
		{"no inherited socket", append([]string{"-namespace", "default"}, runsc...), "no listening socket inherited as fd 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, stderr := runShim(t, dir, tc.args...)
			if code == 0 {
				t.Fatalf("exit code 0, want non-zero; stderr:\n%s", stderr)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
				t.Fatalf("stderr is not exactly one line:\n%s", stderr)
			}
			if !strings.HasPrefix(stderr, errPrefix) || !strings.Contains(stderr, tc.want) {
				t.Fatalf("stderr %q, want %q prefix and %q", stderr, errPrefix, tc.want)
			}
		})
	}
}

// A config the shim cannot use, or no runc shim to become, does not stop it
// from serving: Create fails with FailedPrecondition and the one-line reason
// (what containerd shows the user), the reason is logged, calls about a
// container say NotFound (containerd's task Delete accepts that), ShimInfo
// answers (containerd kills the shim by that pid), and SIGTERM ends it.
func TestUnusableConfigFailsCreate(t *testing.T) {
	emptyPath := t.TempDir() // no containerd-shim on PATH
	for _, tc := range []struct {
		name   string
		args   []string
		env    []string
		reason string
	}{
		{"malformed", []string{"-config", testdata("malformed.toml")}, nil, "malformed.toml: line 4"},
		{"unknown key", []string{"-config", testdata("unknown-key.toml")}, nil, `unknown key "publisher.queue_sise"`},
		{"wrong type", []string{"-config", testdata("wrong-type.toml")}, nil, "publisher.queue_size"},
		{"bad mode", []string{"-config", testdata("bad-mode.toml")}, nil, `unknown publisher mode "carrier-pigeon"`},
		{"bad config on the runc path", []string{"-config", testdata("malformed.toml"), "-runtime-root", "/run/containerd/runc"}, nil, "malformed.toml: line 4"},
		{"no runc shim", []string{"-runtime-root", "/run/containerd/runc"}, []string{"PATH=" + emptyPath}, "containerd-shim is not on PATH"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, a := range tc.args {
				if strings.HasSuffix(a, ".toml") {
					abs, err := filepath.Abs(a)
					if err != nil {
						t.Fatal(err)
					}
					tc.args[i] = abs
				}
			}
			name := filepath.Join(t.TempDir(), "shim.sock")
			s := startShimEnv(t, nil, tc.env, append([]string{"-socket", name}, tc.args...)...)
			s.connect(t, abstractDialer(name))
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()

			_, err := s.client.Create(ctx, &shimapi.CreateTaskRequest{ID: "c1", Bundle: t.TempDir(), Runtime: "runsc"})
			if code := status.Code(err); code != codes.FailedPrecondition {
				t.Fatalf("Create: %v (code %v), want FailedPrecondition", err, code)
			}
			msg := status.Convert(err).Message()
			if !strings.Contains(msg, tc.reason) || strings.Contains(msg, "\n") {
				t.Fatalf("Create's error %q does not hold the one-line reason %q", msg, tc.reason)
			}
			for call, err := range map[string]error{
				"State":  func() error { _, err := s.client.State(ctx, &shimapi.StateRequest{ID: "c1"}); return err }(),
				"Delete": func() error { _, err := s.client.Delete(ctx, &ptypes.Empty{}); return err }(),
				"Start":  func() error { _, err := s.client.Start(ctx, &shimapi.StartRequest{ID: "c1"}); return err }(),
			} {
				if status.Code(err) != codes.NotFound || !strings.Contains(err.Error(), tc.reason) {
					t.Errorf("%s: %v, want NotFound with the reason", call, err)
				}
			}
			info, err := s.client.ShimInfo(ctx, &ptypes.Empty{})
			if err != nil || int(info.ShimPid) != s.cmd.Process.Pid {
				t.Fatalf("ShimInfo: %v, %v; want pid %d", info, err, s.cmd.Process.Pid)
			}
			logged := s.stderr.String()
			// logrus quotes the reason in its text format.
			if !strings.Contains(logged, "level=error") || !strings.Contains(logged, strings.ReplaceAll(tc.reason, `"`, `\"`)) {
				t.Fatalf("the reason was not logged as an error; stderr:\n%s", logged)
			}
			if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			if code := s.waitExit(t, 30*time.Second); code != 0 {
				t.Fatalf("exit code after SIGTERM %d, want 0; stderr:\n%s", code, s.stderr.String())
			}
		})
	}
}

// The runc-exec hack replaces the process: same pid, the arguments after
// argv[0] except what containerd-shim does not know (-config dropped,
// -criu-path renamed -criu), the same environment, and the inherited fd 3.
func TestExecHackKeepsPidArgsEnvAndSocket(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	fake := writeFile(t, filepath.Join(dir, "fake-runc-shim"), fmt.Sprintf(`#!/bin/sh
{
  echo "pid=$$"
  for a in "$@"; do echo "arg=$a"; done
  echo "env=$SHIM_TEST_ENV"
  if [ -e /proc/self/fd/3 ]; then echo "fd3=$(readlink /proc/self/fd/3)"; fi
} > %s
`, report), 0o755)
	cfg := writeFile(t, filepath.Join(dir, "runsc.toml"), fmt.Sprintf("runc_shim = %q\n", fake), 0o644)

	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: filepath.Join(dir, "s"), Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	sock, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()

	args := []string{"-namespace", "default", "-address", "/run/x.sock", "-config", cfg, "-criu-path", "/bin/criu", "-systemd-cgroup", "-debug"}
	cmd := exec.Command(containerdtest.BuildShim(t), args...)
	cmd.Env = append(os.Environ(), "SHIM_TEST_ENV=kept")
	cmd.ExtraFiles = []*os.File{sock}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shim: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("the runc shim did not run: %v", err)
	}
	var got []string
	for _, a := range []string{"-namespace", "default", "-address", "/run/x.sock", "-criu", "/bin/criu", "-systemd-cgroup", "-debug"} {
		got = append(got, "arg="+a)
	}
	want := fmt.Sprintf("pid=%d\n%s\nenv=kept\n", cmd.Process.Pid, strings.Join(got, "\n"))
	wantSock, _ := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", sock.Fd()))
	want += "fd3=" + wantSock + "\n"
	if string(b) != want {
		t.Fatalf("runc shim saw:\n%s\nwant:\n%s", b, want)
	}
}

// Without runc_shim, the hack runs containerd-shim from PATH; a missing
// config file is the defaults, not an error.
func TestExecHackUsesContainerdShimFromPath(t *testing.T) {
	dir := t.TempDir()
	report := filepath.Join(dir, "report")
	writeFile(t, filepath.Join(dir, "containerd-shim"), "#!/bin/sh\necho \"$0 $*\" > "+report+"\n", 0o755)
	cmd := exec.Command(containerdtest.BuildShim(t), "-namespace", "n", "-config", filepath.Join(dir, "absent.toml"))
	cmd.Env = append(os.Environ(), "PATH="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("shim: %v\n%s", err, out)
	}
	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("containerd-shim from PATH did not run: %v", err)
	}
	want := filepath.Join(dir, "containerd-shim") + " -namespace n\n"
	if string(b) != want {
		t.Fatalf("containerd-shim ran as %q, want %q", b, want)
	}
}

// shim is the binary serving on the runsc path, started by hand.
type shim struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once cmd.Wait has returned
	stderr *syncbuf.Buffer
	client shimapi.ShimService
}

func startShim(t *testing.T, extraFiles []*os.File, args ...string) *shim {
	t.Helper()
	return startShimEnv(t, extraFiles, nil, args...)
}

// startShimEnv starts the shim with env added to the test's environment and
// args after a base command line (a later flag wins).
func startShimEnv(t *testing.T, extraFiles []*os.File, env []string, args ...string) *shim {
	t.Helper()
	dir := t.TempDir()
	base := []string{"-namespace", "default", "-address", filepath.Join(dir, "no-containerd.sock"),
		"-runtime-root", filepath.Join(dir, "runsc"), "-workdir", dir, "-config", filepath.Join(dir, "absent.toml"), "-debug"}
	cmd := exec.Command(containerdtest.BuildShim(t), append(base, args...)...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Dir = dir
	s := &shim{cmd: cmd, exited: make(chan struct{}), stderr: &syncbuf.Buffer{}}
	cmd.Stderr = s.stderr
	cmd.ExtraFiles = extraFiles
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { cmd.Wait(); close(s.exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-s.exited
		if t.Failed() {
			t.Logf("shim stderr:\n%s", s.stderr.String())
		}
	})
	return s
}

func (s *shim) connect(t *testing.T, dial func() (net.Conn, error)) {
	t.Helper()
	var conn net.Conn
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if conn, err = dial(); err == nil {
			break
		}
		select {
		case <-s.exited:
			t.Fatalf("shim exited before serving: %v\nstderr:\n%s", s.cmd.ProcessState, s.stderr.String())
		default:
		}
	}
	if err != nil {
		t.Fatalf("connect to the shim: %v\nstderr:\n%s", err, s.stderr.String())
	}
	c := ttrpc.NewClient(conn)
	t.Cleanup(func() { c.Close() })
	s.client = shimapi.NewShimClient(c)
}

// waitExit waits for the shim to exit and returns its exit code.
func (s *shim) waitExit(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-s.exited:
		return s.cmd.ProcessState.ExitCode()
	case <-time.After(timeout):
		t.Fatalf("shim still running after %v; stderr:\n%s", timeout, s.stderr.String())
		return 0
	}
}

func abstractDialer(name string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.Dial("unix", "\x00"+name) }
}

// answered reports whether err (nil included) is the server's answer, as
// opposed to a failure to reach it.
func answered(err error) bool {
	if err == nil {
		return true
	}
	st, ok := status.FromError(err)
	return ok && st.Code() != codes.Unavailable
}

func TestServesOnAbstractSocketAndStopsOnSIGTERM(t *testing.T) {
	name := filepath.Join(t.TempDir(), "shim.sock")
	s := startShim(t, nil, "-socket", name, "-criu-path", "/usr/sbin/criu", "-systemd-cgroup")
	s.connect(t, abstractDialer(name))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	if _, err := s.client.State(ctx, &shimapi.StateRequest{}); !answered(err) {
		t.Fatalf("State: no answer from the shim: %v", err)
	}
	// The ignored flags are logged at debug level.
	if !strings.Contains(s.stderr.String(), "criu-path=/usr/sbin/criu") || !strings.Contains(s.stderr.String(), "systemd-cgroup=true") {
		t.Errorf("ignored flags not logged at debug level; stderr:\n%s", s.stderr.String())
	}

	// SIGUSR1 dumps every goroutine's stack, then where the runtime's
	// memory is, and the shim keeps serving.
	if err := s.cmd.Process.Signal(syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return strings.Contains(s.stderr.String(), `msg="memory classes"`) }, "stack dump and memory classes on SIGUSR1")
	if !strings.Contains(s.stderr.String(), "=== END goroutine stack dump ===") || !strings.Contains(s.stderr.String(), "goroutine ") {
		t.Fatalf("stack dump has no goroutines:\n%s", s.stderr.String())
	}
	if !regexp.MustCompile(`msg="memory classes".* heap/objects=[1-9][0-9]* .*metadata/other=[1-9]`).MatchString(s.stderr.String()) {
		t.Fatalf("no memory figures on SIGUSR1:\n%s", s.stderr.String())
	}
	if _, err := s.client.State(ctx, &shimapi.StateRequest{}); !answered(err) {
		t.Fatalf("State after SIGUSR1: no answer from the shim: %v", err)
	}

	if err := s.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM %d, want 0; stderr:\n%s", code, s.stderr.String())
	}
	if _, err := net.Dial("unix", "\x00"+name); err == nil {
		t.Fatal("socket still accepts connections after exit")
	}
}

// ShimInfo tells containerd the shim's pid.
func TestShimInfoReportsShimPid(t *testing.T) {
	name := filepath.Join(t.TempDir(), "shim.sock")
	s := startShim(t, nil, "-socket", name)
	s.connect(t, abstractDialer(name))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := s.client.ShimInfo(ctx, &ptypes.Empty{})
	if err != nil {
		t.Fatalf("ShimInfo: %v", err)
	}
	if int(info.ShimPid) != s.cmd.Process.Pid {
		t.Fatalf("ShimInfo pid %d, want the shim's pid %d", info.ShimPid, s.cmd.Process.Pid)
	}
}

// Only peers with the shim's uid get an answer: anyone can connect to an
// abstract socket, so the same-user handshake is the only gate.
func TestRejectsOtherUsers(t *testing.T) {
	containerdtest.RequireBinaries(t) // root, to run a client as another user
	name := filepath.Join(t.TempDir(), "shim.sock")
	s := startShim(t, nil, "-socket", name)
	s.connect(t, abstractDialer(name))

	// A copy of this test binary that user nobody can execute.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "shimclient-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	client := writeFile(t, filepath.Join(dir, "client"), string(b), 0o755)

	asUser := func(uid uint32) error {
		cmd := exec.Command(client)
		cmd.Env = append(os.Environ(), dialEnv+"="+name)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	}
	if err := asUser(0); err != nil {
		t.Fatalf("the shim's own user got no answer: %v", err)
	}
	err = asUser(65534)
	if err == nil {
		t.Fatal("user nobody got an answer from a shim running as root")
	}
	// It could connect (abstract sockets have no permissions) but the
	// handshake closed the connection.
	if !strings.Contains(err.Error(), "ShimInfo:") {
		t.Fatalf("user nobody failed before reaching the shim: %v", err)
	}
}

// containerd passes the listening socket as fd 3; without -socket the shim
// serves on it.
func TestServesOnInheritedFD3(t *testing.T) {
	path := filepath.Join(t.TempDir(), "shim.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: path, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	f, err := l.File()
	if err != nil {
		t.Fatal(err)
	}
	s := startShim(t, []*os.File{f})
	f.Close()
	l.Close() // the shim holds its own copy
	s.connect(t, func() (net.Conn, error) { return net.Dial("unix", path) })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Errors from the service arrive as ttrpc status codes containerd maps
	// back with errdefs, never as Unknown.
	_, err = s.client.State(ctx, &shimapi.StateRequest{ID: "no-such-process"})
	if err == nil {
		t.Fatal("State of an unknown process succeeded")
	}
	if code := status.Code(err); code == codes.Unknown || code == codes.Unavailable {
		t.Fatalf("State of an unknown process: %v, want an errdefs status code", err)
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	if code := s.waitExit(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code after SIGINT %d, want 0", code)
	}
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The shim's binary (this test binary has its imports) runs on one P
// although containerd starts every v1 shim with GOMAXPROCS=2.
func TestOneProcUnderContainerd(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2", procsEnv+"=1")
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s: %v", os.Args[0], err)
	}
	if got := strings.TrimSpace(string(out)); got != "1" {
		t.Fatalf("GOMAXPROCS %s under containerd's GOMAXPROCS=2, want 1", got)
	}
}

// [shim] gc_percent, memory_limit and max_procs reach the Go runtime; unset,
// Go's settings (or GOGC and GOMEMLIMIT from the environment) and one P stay.
func TestTuneRuntime(t *testing.T) {
	gc, limit, procs := debug.SetGCPercent(100), debug.SetMemoryLimit(-1), runtime.GOMAXPROCS(0)
	defer func() { debug.SetGCPercent(gc); debug.SetMemoryLimit(limit); runtime.GOMAXPROCS(procs) }()
	tuneRuntime(config.ShimConfig{GCPercent: 60, MemoryLimit: 48 << 20, MaxProcs: 3})
	if got := runtime.GOMAXPROCS(0); got != 3 {
		t.Errorf("GOMAXPROCS %d, want 3", got)
	}
	runtime.GOMAXPROCS(1)
	if got := debug.SetGCPercent(100); got != 60 {
		t.Errorf("GC percent %d, want 60", got)
	}
	if got := debug.SetMemoryLimit(math.MaxInt64); got != 48<<20 {
		t.Errorf("memory limit %d, want %d", got, 48<<20)
	}
	tuneRuntime(config.ShimConfig{})
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("unset gc_percent changed the GC percent to %d", got)
	}
	if got := debug.SetMemoryLimit(-1); got != math.MaxInt64 {
		t.Errorf("unset memory_limit changed the limit to %d", got)
	}
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("unset max_procs changed GOMAXPROCS to %d", got)
	}
}
