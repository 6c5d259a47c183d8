package reliability

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	"github.com/containerd/containerd/namespaces"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// runOne runs a container that exits with status and deletes it.
func (s *suite) runOne(id string, status uint32) {
	s.t.Helper()
	if _, err := s.lifecycle(s.ctx(), id, status); err != nil {
		s.t.Fatal(err)
	}
}

// logLine returns the first line of the daemon's log (which carries the
// shims' output with shim_debug) containing all of parts.
func (s *suite) logLine(parts ...string) string {
	b, _ := os.ReadFile(s.d.LogPath)
	for _, line := range strings.Split(string(b), "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(line, p)
		}
		if ok {
			return line
		}
	}
	return ""
}

// Property 5a: a daemon whose ttrpc socket is not where shims look for it
// still gets every event, over gRPC, and the shim says why it moved.
func TestFallbackToGRPC(t *testing.T) {
	onlyModes(t, "auto")
	s := newSuite(t, options{noTTRPC: true})
	rec := s.record()
	s.runOne("grpc-1", 3)
	s.runOne("grpc-2", 4)
	got := check(rec.snapshot(), map[string]uint32{"grpc-1/grpc-1": 3, "grpc-2/grpc-2": 4})
	report(t, map[string]interface{}{"tally": got})
	if got.Lost != 0 || got.LateExit != 0 || got.WrongState != 0 {
		t.Fatalf("over gRPC: %+v", got)
	}
	if line := s.logLine("publisher changed transport", "transport=grpc", "no ttrpc listener"); line == "" {
		t.Fatal("the shim did not log its move to gRPC and the reason")
	}
}

// relay is an events gRPC endpoint without Forward: only `containerd
// publish` (which calls Publish) gets through, to the real daemon.
type relay struct {
	eventsapi.UnimplementedEventsServer
	daemon eventsapi.EventsClient
}

func (r *relay) Publish(ctx context.Context, req *eventsapi.PublishRequest) (*types.Empty, error) {
	return r.daemon.Publish(ctx, req)
}

// startRelay serves a relay to the daemon at address and returns its socket.
func startRelay(t *testing.T, daemonAddress string) string {
	dir, err := os.MkdirTemp("", "relay-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	conn, err := grpc.Dial("unix://"+daemonAddress, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	path := filepath.Join(dir, "relay.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req interface{}, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (interface{}, error) {
		// containerd publish sends its namespace as gRPC metadata; pass it on.
		if ns, ok := namespaces.Namespace(ctx); ok {
			ctx = namespaces.WithNamespace(context.Background(), ns)
		}
		return h(ctx, req)
	}))
	eventsapi.RegisterEventsServer(srv, &relay{daemon: eventsapi.NewEventsClient(conn)})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return path
}

// Property 5b: with both direct paths refused (no ttrpc listener, gRPC
// Forward unimplemented) events still arrive, over `containerd publish`.
func TestFallbackToFork(t *testing.T) {
	onlyModes(t, "auto")
	// The shims get the relay as their -address (the last flag wins).
	dir, err := os.MkdirTemp("", "relayaddr-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	link := filepath.Join(dir, "relay.sock")
	s := newSuite(t, options{extraShimArgs: []string{"-address", link}})
	relayPath := startRelay(t, s.d.Address)
	if err := os.Symlink(relayPath, link); err != nil {
		t.Fatal(err)
	}
	rec := s.record()
	s.runOne("fork-1", 6)
	time.Sleep(200 * time.Millisecond)
	got := check(rec.snapshot(), map[string]uint32{"fork-1/fork-1": 6})
	report(t, map[string]interface{}{"tally": got})
	if got.Lost != 0 || got.LateExit != 0 || got.WrongState != 0 {
		t.Fatalf("over the fork path: %+v", got)
	}
	if line := s.logLine("publisher changed transport", "transport=exec", "unimplemented"); line == "" {
		t.Fatal("the shim did not log its move to the fork path and the reason")
	}
}
