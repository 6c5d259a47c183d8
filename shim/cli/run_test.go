package cli

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/compat"
	"github.com/google/gvisor-containerd-shim/publisher"
	"github.com/google/gvisor-containerd-shim/shim/config"
)

func TestPublisherConfigWiresFlagsAndConfig(t *testing.T) {
	flags := Flags{Address: "/run/containerd/containerd.sock", ContainerdBinary: "/usr/bin/containerd"}
	cfg := config.Config{Publisher: config.PublisherConfig{Mode: publisher.ModeGRPC, QueueSize: 7, RequestTimeout: 3 * time.Second, FlushTimeout: time.Minute}}
	got := publisherConfig(flags, cfg)
	want := publisher.Config{
		Address:        flags.Address,
		Mode:           publisher.ModeGRPC,
		QueueSize:      7,
		RequestTimeout: 3 * time.Second,
		Fallback:       compat.New("/usr/bin/containerd", flags.Address),
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("publisher config:\n got %+v\nwant %+v", got, want)
	}
}

// fakeService records the calls the CLI makes on shutdown. Its Delete
// publishes an event without waiting for it, so that only the CLI's final
// flush can deliver it.
type fakeService struct {
	shimapi.ShimService // nil: other methods are not called
	pub                 *publisher.Publisher

	mu      sync.Mutex
	calls   []string
	killed  chan struct{}
	waiting chan struct{} // gets a value when a Wait starts
}

func newFakeService() *fakeService {
	return &fakeService{killed: make(chan struct{}), waiting: make(chan struct{}, 1)}
}

func (s *fakeService) record(call string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
}

func (s *fakeService) Kill(ctx context.Context, r *shimapi.KillRequest) (*ptypes.Empty, error) {
	s.record(fmt.Sprintf("kill signal=%d all=%v", r.Signal, r.All))
	close(s.killed)
	return &ptypes.Empty{}, nil
}

// Wait blocks like the real one: until the container is killed.
func (s *fakeService) Wait(ctx context.Context, r *shimapi.WaitRequest) (*shimapi.WaitResponse, error) {
	s.waiting <- struct{}{}
	select {
	case <-s.killed:
		return &shimapi.WaitResponse{ExitStatus: 137}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (s *fakeService) Delete(ctx context.Context, _ *ptypes.Empty) (*shimapi.DeleteResponse, error) {
	ns, _ := namespaces.Namespace(ctx)
	s.record("delete namespace=" + ns)
	if err := s.pub.Publish(ctx, "/tasks/exit", &eventstypes.TaskExit{ContainerID: "c1", ExitStatus: 137}); err != nil {
		return nil, err
	}
	return &shimapi.DeleteResponse{}, nil
}

// On SIGTERM, Run stops serving, kills every process of the container with
// SIGKILL, deletes it, and flushes the publisher before returning nil. The
// publisher comes from [publisher] (mode exec here) and forks
// -containerd-binary, proving the wiring end to end.
func TestRunSIGTERMKillsDeletesAndFlushes(t *testing.T) {
	dir := t.TempDir()
	published := filepath.Join(dir, "published")
	fakeContainerd := filepath.Join(dir, "containerd")
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %s\ncat > /dev/null\n", published)
	if err := os.WriteFile(fakeContainerd, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "runsc.toml")
	if err := os.WriteFile(cfgPath, []byte("[publisher]\nmode = \"exec\"\nflush_timeout = \"20s\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	sv := newFakeService()
	ready := make(chan ServiceInputs, 1)
	newService := func(in ServiceInputs) (shimapi.ShimService, error) {
		sv.pub = in.Publisher
		ready <- in
		return sv, nil
	}
	args := []string{
		"-namespace", "ns1", "-address", filepath.Join(dir, "c.sock"),
		"-runtime-root", filepath.Join(dir, "runsc"), "-containerd-binary", fakeContainerd,
		"-config", cfgPath, "-socket", filepath.Join(dir, "shim.sock"),
	}
	var stderr bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Run(args, os.Environ(), &stderr, newService) }()

	var in ServiceInputs
	select {
	case in = <-ready:
	case err := <-done:
		t.Fatalf("Run returned before building the service: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("service not built")
	}
	wd, _ := os.Getwd()
	if in.BundlePath != wd || in.Flags.Namespace != "ns1" || in.Config.Publisher.Mode != publisher.ModeExec {
		t.Fatalf("service inputs %+v: want bundle %s, namespace ns1, mode exec", in, wd)
	}

	// containerd waits for the container in a Wait that is in flight when
	// SIGTERM comes: it must get its answer, not a dropped connection.
	waited := make(chan error, 1)
	go func() {
		conn, err := dialAbstract(filepath.Join(dir, "shim.sock"))
		if err != nil {
			waited <- err
			return
		}
		c := ttrpc.NewClient(conn)
		defer c.Close()
		resp, err := shimapi.NewShimClient(c).Wait(context.Background(), &shimapi.WaitRequest{ID: "c1"})
		if err == nil && resp.ExitStatus != 137 {
			err = fmt.Errorf("exit status %d, want 137", resp.ExitStatus)
		}
		waited <- err
	}()
	select {
	case <-sv.waiting:
	case err := <-waited:
		t.Fatalf("Wait returned before SIGTERM: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Wait did not reach the service")
	}

	// Run has its signal handler installed by now: the test process
	// survives this SIGTERM.
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after SIGTERM: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Run did not return after SIGTERM")
	}
	if err := <-waited; err != nil {
		t.Fatalf("Wait in flight at SIGTERM: %v", err)
	}
	wantCalls := []string{fmt.Sprintf("kill signal=%d all=true", syscall.SIGKILL), "delete namespace=ns1"}
	if !reflect.DeepEqual(sv.calls, wantCalls) {
		t.Fatalf("service calls %q, want %q", sv.calls, wantCalls)
	}
	b, err := os.ReadFile(published)
	if err != nil {
		t.Fatalf("the event published during Delete was not delivered before exit: %v", err)
	}
	want := fmt.Sprintf("--address %s publish --topic /tasks/exit --namespace ns1\n", filepath.Join(dir, "c.sock"))
	if string(b) != want {
		t.Fatalf("containerd publish ran as %q, want %q", b, want)
	}
	if strings.Contains(stderr.String(), "level=error") {
		t.Fatalf("errors logged:\n%s", stderr.String())
	}
}

func dialAbstract(name string) (net.Conn, error) {
	var err error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		var conn net.Conn
		if conn, err = net.Dial("unix", "\x00"+name); err == nil {
			return conn, nil
		}
	}
	return nil, err
}
