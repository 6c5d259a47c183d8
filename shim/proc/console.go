package proc

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// terminalWait bounds how long the shim waits for a terminal's pty master
// once the runsc command given the console socket has exited 0. runsc
// (create of a sandbox or of a pod's app container, exec --detach) sends
// the master over the socket before it exits, so by then the connection
// and the master are already queued on the socket: the wait only covers
// the shim being scheduled. A runsc that exits 0 without connecting (a
// sandbox whose spec has no process.terminal, a wrapper script, a
// misconfigured runtime) would otherwise hang the RPC until containerd
// kills the shim. A variable so tests need not wait that long.
var terminalWait = 5 * time.Second

// receiveTerminal returns the pty master runsc sent to socket, after the
// runsc command (named by cmd, for the error) that was handed the socket
// exited 0. When none arrives within terminalWait, or ctx ends first, the
// socket is closed (which ends the wait in Accept) and a master arriving
// after all is closed.
func receiveTerminal(ctx context.Context, socket *runc.Socket, cmd string) (console.Console, error) {
	type received struct {
		c   console.Console
		err error
	}
	// Buffered: the receiver never blocks once nobody waits for it.
	done := make(chan received, 1)
	go func() {
		c, err := socket.ReceiveMaster()
		done <- received{c, err}
	}()
	timer := time.NewTimer(terminalWait)
	defer timer.Stop()
	path := socket.Path()
	var err error
	select {
	case r := <-done:
		if r.err != nil {
			return nil, fmt.Errorf("receiving the terminal from runsc %s on console socket %s: %w", cmd, path, r.err)
		}
		return r.c, nil
	case <-timer.C:
		err = fmt.Errorf("runsc %s exited 0 but sent no terminal to console socket %s within %v: %w",
			cmd, path, terminalWait, errdefs.ErrFailedPrecondition)
	case <-ctx.Done():
		err = fmt.Errorf("waiting for the terminal from runsc %s on console socket %s: %w", cmd, path, ctx.Err())
	}
	socket.Close()
	go func() {
		if r := <-done; r.c != nil {
			r.c.Close()
		}
	}()
	return nil, err
}
