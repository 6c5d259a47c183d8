package cli

import (
	"context"
	"fmt"
	"net"
	"os"

	"github.com/containerd/errdefs"
	"github.com/containerd/ttrpc"
	"github.com/google/gvisor-containerd-shim/internal/memtrim"
)

// socketPathLimit is containerd's limit for the shim's socket path, leaving
// room in sun_path (108 bytes) for the abstract-socket NUL and the final NUL.
const socketPathLimit = 106

// inheritedFD is where containerd passes the shim's listening socket.
const inheritedFD = 3

// checkSocketPath rejects a -socket path the kernel would truncate.
func checkSocketPath(path string) error {
	if len(path) > socketPathLimit {
		return fmt.Errorf("-socket %q: unix socket path too long (%d bytes > %d)", path, len(path), socketPathLimit)
	}
	return nil
}

// listen returns the shim's listener: the abstract unix socket path, or the
// socket containerd passes as fd 3 when path is empty.
func listen(path string) (net.Listener, error) {
	if path != "" {
		if err := checkSocketPath(path); err != nil {
			return nil, err
		}
		l, err := net.Listen("unix", "\x00"+path)
		if err != nil {
			return nil, fmt.Errorf("listen on abstract socket %q: %w", path, err)
		}
		return l, nil
	}
	f := os.NewFile(inheritedFD, "socket")
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("no listening socket inherited as fd %d (give -socket when starting the shim by hand): %w", inheritedFD, err)
	}
	return l, nil
}

// newServer returns a ttrpc server that only accepts peers running as the
// shim's own uid, turns the service's errdefs errors into ttrpc status
// codes, so that containerd sees e.g. NotFound or Unimplemented instead of
// Unknown, and tells trim of every call (nil: nobody).
func newServer(trim *memtrim.Trimmer) (*ttrpc.Server, error) {
	return ttrpc.NewServer(
		ttrpc.WithServerHandshaker(ttrpc.UnixSocketRequireSameUser()),
		ttrpc.WithUnaryServerInterceptor(func(ctx context.Context, unmarshal ttrpc.Unmarshaler, _ *ttrpc.UnaryServerInfo, method ttrpc.Method) (interface{}, error) {
			resp, err := method(ctx, unmarshal)
			trim.Touch() // after the call: what it allocated is garbage by now
			return resp, errdefs.ToGRPC(err)
		}),
	)
}

// serveInBackground serves l with server: served gets Serve's error, and
// serving is closed once Serve returned.
func serveInBackground(ctx context.Context, server *ttrpc.Server, l net.Listener) (served <-chan error, serving <-chan struct{}) {
	errc := make(chan error, 1)
	done := make(chan struct{})
	go func() {
		errc <- server.Serve(ctx, l)
		close(done)
	}()
	return errc, done
}
