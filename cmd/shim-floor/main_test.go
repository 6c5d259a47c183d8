package main

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// The test binary is the floor when this is set (see TestMain).
const runFloor = "SHIM_FLOOR_TEST_RUN"

func TestMain(m *testing.M) {
	if os.Getenv(runFloor) != "" {
		main()
		return
	}
	os.Exit(m.Run())
}

// startFloor runs the floor as containerd runs a shim, its listening
// socket as fd 3, and returns a client of it.
func startFloor(t *testing.T) (*exec.Cmd, shimapi.ShimService) {
	t.Helper()
	sock := filepath.Join(t.TempDir(), "s")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runFloor+"=1")
	cmd.ExtraFiles = []*os.File{lf}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	conn, err := net.Dial("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	client := ttrpc.NewClient(conn)
	t.Cleanup(func() { client.Close() })
	return cmd, shimapi.NewShimClient(client)
}

// The floor answers ShimInfo with its pid, and nothing else, and exits
// cleanly on SIGTERM, as the footprint tool relies on.
func TestFloorServesShimInfoOnly(t *testing.T) {
	cmd, shim := startFloor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	info, err := shim.ShimInfo(ctx, &types.Empty{})
	if err != nil {
		t.Fatal(err)
	}
	if int(info.ShimPid) != cmd.Process.Pid {
		t.Errorf("ShimInfo pid %d, floor runs as %d", info.ShimPid, cmd.Process.Pid)
	}
	if _, err := shim.State(ctx, &shimapi.StateRequest{ID: "x"}); status.Code(err) != codes.Unimplemented {
		t.Errorf("State: %v, want Unimplemented", err)
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Errorf("floor after SIGTERM: %v, want exit 0", err)
	}
}

// Started without containerd's socket, it says so in one line and fails.
func TestFloorWithoutSocket(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runFloor+"=1")
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit %v, want 1; output %q", err, out)
	}
	if lines := strings.Split(strings.TrimSpace(string(out)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], "fd 3") {
		t.Errorf("output %q, want one line about fd 3", out)
	}
}
