package cli

import (
	"context"
	"net"
	"path/filepath"
	"runtime/metrics"
	"testing"
	"time"

	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/memtrim"
)

// sink keeps the test method's allocation from being optimized away.
var sink [][]byte

// The server hands every call to the trimmer: once calls that allocated
// past its threshold are over and the shim is quiet, the freed heap goes
// back to the OS.
func TestServerReturnsMemoryAfterCalls(t *testing.T) {
	server, err := newServer(memtrim.New(1 << 20))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()
	server.Register("test.Alloc", map[string]ttrpc.Method{
		"Alloc": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			for i := 0; i < 16<<10; i++ {
				sink = append(sink, make([]byte, 1024))
			}
			sink = nil
			return &ptypes.Empty{}, nil
		},
	})
	l, err := net.Listen("unix", filepath.Join(t.TempDir(), "s"))
	if err != nil {
		t.Fatal(err)
	}
	go server.Serve(context.Background(), l)
	conn, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	defer client.Close()

	released := []metrics.Sample{{Name: "/memory/classes/heap/released:bytes"}}
	metrics.Read(released)
	before := released[0].Value.Uint64()
	if err := client.Call(context.Background(), "test.Alloc", "Alloc", &ptypes.Empty{}, &ptypes.Empty{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(memtrim.Quiet + time.Second)
	metrics.Read(released)
	if after := released[0].Value.Uint64(); after < before+8<<20 {
		t.Fatalf("heap released to the OS %d -> %d bytes after a call left 16 MiB of garbage, want 8 MiB more at least", before, after)
	}
}
