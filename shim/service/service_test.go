package service

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/console"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/mount"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/containerd/pkg/stdio"
	"github.com/containerd/containerd/runtime/linux/runctypes"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/containerd/sys/reaper"
	"github.com/containerd/errdefs"
	"github.com/containerd/fifo"
	"github.com/containerd/typeurl"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/shim/proc"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// recordingPublisher records what the service publishes and when Flush ran.
type recordingPublisher struct {
	mu        sync.Mutex
	published []events.Event
	flushes   []int // number of events published when each Flush was called
}

func (p *recordingPublisher) Publish(ctx context.Context, topic string, ev events.Event) error {
	if ns, _ := namespaces.Namespace(ctx); ns != "test" || topic != "/tasks/exit" {
		return fmt.Errorf("published %q in namespace %q", topic, ns)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.published = append(p.published, ev)
	return nil
}

func (p *recordingPublisher) Flush(ctx context.Context) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.flushes = append(p.flushes, len(p.published))
	return nil
}

var reaperOnce sync.Once

// requireRuntime makes the test process what the CLI makes the shim: a
// subreaper that reaps its children on SIGCHLD.
func requireRuntime(t *testing.T) {
	t.Helper()
	containerdtest.RequireBinaries(t, "runsc")
	reaperOnce.Do(func() {
		if err := reaper.SetSubreaper(1); err != nil {
			t.Fatal(err)
		}
		containerdtest.ReapChildren()
	})
}

func newService(t *testing.T) (*Service, *recordingPublisher) {
	t.Helper()
	pub := &recordingPublisher{}
	s, err := New(Config{Namespace: "test", RuntimeRoot: t.TempDir(), RunscConfig: map[string]string{"network": "none"}}, pub)
	if err != nil {
		t.Fatal(err)
	}
	return s, pub
}

// bundle writes an OCI bundle whose rootfs is <bundle>/rootfs, and returns
// it with a bind mount of a busybox tree for Create to mount there.
func bundle(t *testing.T, args ...string) (string, []*types.Mount) {
	t.Helper()
	dir := t.TempDir()
	src := containerdtest.BusyboxRootfs(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "x"}, oci.WithRootFSPath("rootfs"), oci.WithProcessArgs(args...))
	if err != nil {
		t.Fatal(err)
	}
	js, _ := json.Marshal(spec)
	if err := os.WriteFile(filepath.Join(dir, "config.json"), js, 0o644); err != nil {
		t.Fatal(err)
	}
	return dir, []*types.Mount{{Type: "bind", Source: src, Options: []string{"rbind", "rw"}}}
}

func isMounted(t *testing.T, dir string) bool {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == dir {
			return true
		}
	}
	return false
}

func TestRPCsBeforeCreateFailPrecondition(t *testing.T) {
	s, _ := newService(t)
	ctx := context.Background()
	_, errState := s.State(ctx, &shimapi.StateRequest{})
	_, errStart := s.Start(ctx, &shimapi.StartRequest{})
	_, errDelete := s.Delete(ctx, &ptypes.Empty{})
	_, errKill := s.Kill(ctx, &shimapi.KillRequest{Signal: 9})
	_, errExec := s.Exec(ctx, &shimapi.ExecProcessRequest{ID: "e"})
	_, errPause := s.Pause(ctx, &ptypes.Empty{})
	for i, err := range []error{errState, errStart, errDelete, errKill, errExec, errPause} {
		if !errdefs.IsFailedPrecondition(err) {
			t.Errorf("call %d before Create: %v, want FailedPrecondition", i, err)
		}
	}
	if info, err := s.ShimInfo(ctx, &ptypes.Empty{}); err != nil || info.ShimPid != uint32(os.Getpid()) {
		t.Errorf("ShimInfo: %v %v", info, err)
	}
}

func TestLifecycleMountsPublishesAndFlushes(t *testing.T) {
	requireRuntime(t)
	s, pub := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir, rootfs := bundle(t, "/bin/sh", "-c", "exit 7")
	id := fmt.Sprintf("svc-%d", os.Getpid())
	created, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: id, Bundle: dir, Rootfs: rootfs})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if !isMounted(t, filepath.Join(dir, "rootfs")) {
		t.Fatal("rootfs not mounted after Create")
	}
	if _, err := s.Kill(ctx, &shimapi.KillRequest{ID: "nope", Signal: 9}); !errdefs.IsNotFound(err) {
		t.Errorf("kill of an unknown exec: %v, want NotFound", err)
	}
	if _, err := s.Start(ctx, &shimapi.StartRequest{ID: id}); err != nil {
		t.Fatalf("start: %v", err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	w, err := s.Wait(wctx, &shimapi.WaitRequest{ID: id})
	if err != nil || w.ExitStatus != 7 {
		t.Fatalf("wait: %v %v, want exit status 7", w, err)
	}
	st, err := s.State(ctx, &shimapi.StateRequest{ID: id})
	if err != nil || st.Status.String() != "STOPPED" {
		t.Fatalf("state: %v %v, want stopped", st, err)
	}
	del, err := s.Delete(ctx, &ptypes.Empty{})
	if err != nil {
		t.Fatalf("delete: %v", err)
	}
	if del.ExitStatus != 7 || del.Pid != created.Pid || del.ExitedAt.IsZero() {
		t.Errorf("delete response %+v, want status 7, pid %d and an exit time", del, created.Pid)
	}
	if isMounted(t, filepath.Join(dir, "rootfs")) {
		t.Error("rootfs still mounted after Delete")
	}
	pub.mu.Lock()
	defer pub.mu.Unlock()
	if len(pub.published) != 1 {
		t.Fatalf("published %v, want one TaskExit", pub.published)
	}
	x, ok := pub.published[0].(*eventstypes.TaskExit)
	if !ok || x.ContainerID != id || x.ID != id || x.Pid != created.Pid || x.ExitStatus != 7 {
		t.Errorf("published %+v, want TaskExit of %s pid %d status 7", pub.published[0], id, created.Pid)
	}
	if len(pub.flushes) != 1 || pub.flushes[0] != 1 {
		t.Errorf("flushes %v, want one Flush after the TaskExit", pub.flushes)
	}
}

func TestCreateFailureUnmountsRootfs(t *testing.T) {
	requireRuntime(t)
	s, _ := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir, rootfs := bundle(t) // no args: runsc rejects the spec
	_, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: fmt.Sprintf("bad-%d", os.Getpid()), Bundle: dir, Rootfs: rootfs})
	if err == nil || !strings.Contains(err.Error(), "Spec.Process.Arg must be defined") {
		t.Fatalf("create: %v, want runsc's reason", err)
	}
	if isMounted(t, filepath.Join(dir, "rootfs")) {
		mount.UnmountAll(filepath.Join(dir, "rootfs"), 0)
		t.Fatal("rootfs left mounted after a failed Create")
	}
	if _, err := s.State(ctx, &shimapi.StateRequest{}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("state after failed create: %v, want FailedPrecondition", err)
	}
}

func TestCreateInvalidBundle(t *testing.T) {
	s, _ := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	_, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: "c", Bundle: filepath.Join(t.TempDir(), "missing")})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "invalid bundle") || !strings.Contains(err.Error(), "config.json") {
		t.Fatalf("create: %v, want InvalidArgument naming the bundle's missing config.json", err)
	}
}

// A task whose terminal disagrees with its spec's process.terminal is
// refused before anything is mounted or run (this runsc would create it
// and never send the console socket a terminal).
func TestCreateTerminalMismatch(t *testing.T) {
	s, _ := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir, rootfs := bundle(t, "/bin/true") // process.terminal false
	_, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: "tty", Bundle: dir, Rootfs: rootfs, Terminal: true})
	if !errdefs.IsInvalidArgument(err) || !strings.Contains(err.Error(), "process.terminal is false but the task's terminal is true") {
		t.Fatalf("create: %v, want InvalidArgument naming both settings", err)
	}
	if isMounted(t, filepath.Join(dir, "rootfs")) {
		mount.UnmountAll(filepath.Join(dir, "rootfs"), 0)
		t.Fatal("rootfs mounted by a refused Create")
	}
	if _, err := s.State(ctx, &shimapi.StateRequest{}); !errdefs.IsFailedPrecondition(err) {
		t.Errorf("state after the refused create: %v, want FailedPrecondition", err)
	}
}

// TestCreateRefusesPrefixIDs: a container whose id extends one in the
// namespace's runsc root (or is extended by one) is refused before
// anything is mounted or run, naming both ids.
func TestCreateRefusesPrefixIDs(t *testing.T) {
	requireRuntime(t) // reaps the runtime a Create without the refusal would run
	ctx := namespaces.WithNamespace(context.Background(), "test")
	for _, tc := range []struct{ existing, id string }{{"web-1", "web-10"}, {"web-10", "web-1"}} {
		t.Run(tc.id, func(t *testing.T) {
			pub := &recordingPublisher{}
			runtimeRoot := t.TempDir()
			root := filepath.Join(runtimeRoot, "test")
			if err := os.MkdirAll(root, 0o711); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(root, tc.existing+"_sandbox:"+tc.existing+".state"), nil, 0o640); err != nil {
				t.Fatal(err)
			}
			s, err := New(Config{Namespace: "test", RuntimeRoot: runtimeRoot}, pub)
			if err != nil {
				t.Fatal(err)
			}
			dir, rootfs := bundle(t, "/bin/true")
			// A runtime that fails at once: without the refusal, Create must
			// not start a sandbox that the test would have to clean up.
			_, err = s.Create(ctx, &shimapi.CreateTaskRequest{ID: tc.id, Bundle: dir, Rootfs: rootfs, Runtime: "false"})
			want := fmt.Sprintf("create %s: runsc finds containers by id prefix, and %s exists in %s", tc.id, tc.existing, root)
			if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), want) {
				t.Fatalf("create: %v, want FailedPrecondition containing %q", err, want)
			}
			if isMounted(t, filepath.Join(dir, "rootfs")) {
				mount.UnmountAll(filepath.Join(dir, "rootfs"), 0)
				t.Fatal("rootfs mounted by a refused Create")
			}
		})
	}
}

// TestStdioThroughFifos runs a container whose stdin and stdout are
// containerd-style fifos, with CreateOptions (the pipes' owner) set.
func TestStdioThroughFifos(t *testing.T) {
	requireRuntime(t)
	s, _ := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir, rootfs := bundle(t, "/bin/sh", "-c", "echo out; read line")
	fifos := t.TempDir()
	stdout := filepath.Join(fifos, "stdout")
	stdin := filepath.Join(fifos, "stdin")
	// containerd's client opens its ends of the fifos before Create.
	out, err := fifo.OpenFifo(ctx, stdout, syscall.O_RDONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	in, err := fifo.OpenFifo(ctx, stdin, syscall.O_WRONLY|syscall.O_CREAT|syscall.O_NONBLOCK, 0o700)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	opts, err := typeurl.MarshalAny(&runctypes.CreateOptions{IoUid: 4321, IoGid: 8765})
	if err != nil {
		t.Fatal(err)
	}
	id := fmt.Sprintf("io-%d", os.Getpid())
	_, err = s.Create(ctx, &shimapi.CreateTaskRequest{ID: id, Bundle: dir, Rootfs: rootfs, Stdin: stdin, Stdout: stdout, Options: opts})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	defer func() {
		s.Kill(ctx, &shimapi.KillRequest{Signal: 9, All: true})
		s.Delete(ctx, &ptypes.Empty{})
	}()
	if _, err := s.Start(ctx, &shimapi.StartRequest{ID: id}); err != nil {
		t.Fatalf("start: %v", err)
	}
	if _, err := in.Write([]byte("line\n")); err != nil {
		t.Fatal(err)
	}
	wctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if w, err := s.Wait(wctx, &shimapi.WaitRequest{ID: id}); err != nil || w.ExitStatus != 0 {
		t.Fatalf("wait: %v %v, want exit 0 (the input line read)", w, err)
	}
	got, err := io.ReadAll(out)
	if err != nil || string(got) != "out\n" {
		t.Fatalf("stdout %q %v, want %q", got, err, "out\n")
	}
}

// stubProcess is a process of the service's that is only a child of the
// test's: its exit comes from the reaper, as an exec's waiter's does.
type stubProcess struct {
	id   string
	pid  int
	mu   sync.Mutex
	exit int
	done chan struct{}
}

func (p *stubProcess) ID() string                                 { return p.id }
func (p *stubProcess) Pid() int                                   { return p.pid }
func (p *stubProcess) ExitPid() int                               { return p.pid }
func (p *stubProcess) ExitedAt() time.Time                        { return time.Time{} }
func (p *stubProcess) Stdio() stdio.Stdio                         { return stdio.Stdio{} }
func (p *stubProcess) Status(context.Context) (proc.State, error) { return proc.Running, nil }
func (p *stubProcess) Exited() <-chan struct{}                    { return p.done }
func (p *stubProcess) Resize(console.WinSize) error               { return nil }
func (p *stubProcess) Start(context.Context) error                { return nil }
func (p *stubProcess) Delete(context.Context) error               { return nil }
func (p *stubProcess) Kill(context.Context, uint32, bool) error   { return nil }
func (p *stubProcess) CloseStdin() error                          { return nil }
func (p *stubProcess) ExitStatus() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.exit
}
func (p *stubProcess) SetExited(status int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.exit = status
	close(p.done)
}

// published reports whether a TaskExit of process id was published.
func (p *recordingPublisher) exitOf(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, ev := range p.published {
		if x, ok := ev.(*eventstypes.TaskExit); ok && x.ID == id {
			return true
		}
	}
	return false
}

// A Create stuck in runsc (a stand-in that waits to be released) holds up
// no other process's exit nor its TaskExit: the service's lock, which
// exits needed, was held across runsc create.
func TestStuckCreateDelaysNoExit(t *testing.T) {
	requireRuntime(t)
	s, pub := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir := t.TempDir()
	creating, release := filepath.Join(dir, "creating"), filepath.Join(dir, "release")
	runtime := filepath.Join(dir, "runsc")
	script := fmt.Sprintf("#!/bin/sh\ntouch %s\ni=0\nwhile [ ! -f %s ] && [ $i -lt 3000 ]; do sleep 0.01; i=$((i+1)); done\necho 'create: released' >&2\nexit 1\n", creating, release)
	if err := os.WriteFile(runtime, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	created := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: "stuck", Bundle: bundle, Runtime: runtime})
		created <- err
	}()
	t.Cleanup(func() {
		os.WriteFile(release, nil, 0o644)
		<-done
	})
	for {
		if _, err := os.Stat(creating); err == nil {
			break
		}
		select {
		case err := <-created:
			t.Fatalf("create returned before runsc create ran: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}

	// Another process exits while runsc create is stuck.
	cmd := exec.Command("true")
	started := time.Now()
	ec, err := reaper.Default.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	go reaper.Default.Wait(cmd, ec)
	p := &stubProcess{id: "other", pid: cmd.Process.Pid, done: make(chan struct{})}
	s.exits.watch(p, started)
	for !pub.exitOf("other") {
		select {
		case err := <-created:
			t.Fatalf("the other process's TaskExit was published only after the stuck Create returned (%v)", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	select {
	case <-p.Exited():
	default:
		t.Error("TaskExit published before the exit was recorded")
	}
}

// An Exec waiting for its logging driver to get ready (up to 30 s) holds
// up neither the container's exit nor its TaskExit: the service's lock,
// which exits needed, was held across that wait.
func TestExecLogDriverWaitDelaysNoExit(t *testing.T) {
	requireRuntime(t)
	s, pub := newService(t)
	ctx := namespaces.WithNamespace(context.Background(), "test")
	dir, rootfs := bundle(t, "/bin/sleep", "1000")
	id := fmt.Sprintf("ld-%d", os.Getpid())
	if _, err := s.Create(ctx, &shimapi.CreateTaskRequest{ID: id, Bundle: dir, Rootfs: rootfs}); err != nil {
		t.Fatalf("create: %v", err)
	}
	t.Cleanup(func() {
		s.Kill(ctx, &shimapi.KillRequest{Signal: 9, All: true})
		s.Delete(ctx, &ptypes.Empty{})
	})
	if _, err := s.Start(ctx, &shimapi.StartRequest{ID: id}); err != nil {
		t.Fatalf("start: %v", err)
	}
	// A driver that never closes fd 5 (ready) until released, and then
	// exits.
	tmp := t.TempDir()
	started, release := filepath.Join(tmp, "started"), filepath.Join(tmp, "release")
	driver := filepath.Join(tmp, "driver")
	script := fmt.Sprintf("#!/bin/sh\ntouch %s\nwhile [ ! -f %s ]; do sleep 0.01; done\n", started, release)
	if err := os.WriteFile(driver, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	spec, _ := json.Marshal(specs.Process{Args: []string{"/bin/true"}, Cwd: "/"})
	execDone := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, err := s.Exec(ctx, &shimapi.ExecProcessRequest{ID: "logged", Spec: &ptypes.Any{TypeUrl: "spec", Value: spec}, Stdout: "binary://" + driver})
		execDone <- err
	}()
	t.Cleanup(func() {
		os.WriteFile(release, nil, 0o644)
		<-done
	})
	for {
		if _, err := os.Stat(started); err == nil {
			break
		}
		select {
		case err := <-execDone:
			t.Fatalf("exec returned before its driver started: %v", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	if _, err := s.Kill(ctx, &shimapi.KillRequest{ID: id, Signal: 9}); err != nil {
		t.Fatalf("kill: %v", err)
	}
	for !pub.exitOf(id) {
		select {
		case err := <-execDone:
			t.Fatalf("the container's TaskExit was published only after the Exec waiting for its driver returned (%v)", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
}
