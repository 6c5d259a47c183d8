package stdio

import (
	"context"
	"fmt"
	"time"

	"github.com/containerd/console"
	"github.com/containerd/errdefs"
	runc "github.com/containerd/go-runc"
)

// ReceiveTerminal returns the pty master runsc sent to socket, after the
// runsc command (named by cmd, for the error) that was handed the socket
// exited 0. When none arrives within wait, or ctx ends first, the socket
// is closed (which ends the wait in Accept) and a master arriving after
// all is closed.
func ReceiveTerminal(ctx context.Context, socket *runc.Socket, cmd string, wait time.Duration) (console.Console, error) {
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
	timer := time.NewTimer(wait)
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
			cmd, path, wait, errdefs.ErrFailedPrecondition)
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
