package stdio

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// hangGuard bounds a test's wait for a call that would hang were the code
// broken: far above the waits the tests give ReceiveTerminal otherwise.
const hangGuard = 30 * time.Second

// A request that ends stops the wait for the terminal at once.
func TestTerminalWaitEndsWithRequest(t *testing.T) {
	socket, err := runc.NewTempConsoleSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer socket.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	// Were the request's end ignored, the wait would end it, with another
	// error.
	_, err = ReceiveTerminal(ctx, socket, "create", hangGuard)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), socket.Path()) {
		t.Errorf("error %v, want the request's end, naming the console socket", err)
	}
}

// A peer that connects but never sends (nor hangs up) is bounded as well:
// the wait is not only Accept's.
func TestTerminalWaitBoundsSilentPeer(t *testing.T) {
	socket, err := runc.NewTempConsoleSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer socket.Close()
	conn, err := net.Dial("unix", socket.Path())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// Were only Accept bounded, the peer hanging up would end the wait,
	// with another error.
	defer time.AfterFunc(hangGuard, func() { conn.Close() }).Stop()
	_, err = ReceiveTerminal(context.Background(), socket, "exec", 100*time.Millisecond)
	if !errdefs.IsFailedPrecondition(err) || !strings.Contains(err.Error(), socket.Path()) {
		t.Errorf("error %v, want FailedPrecondition naming the console socket", err)
	}
}
