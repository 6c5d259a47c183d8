// Command shim-floor is the least a v1 shim built on this project's pinned
// dependencies can cost. It links what the mission cannot do without
// (containerd's v1 Shim API served over ttrpc v1.1.2; the task events and
// the ttrpc events client that carry a TaskExit to containerd), serves the
// API on the socket containerd passes as fd 3, answers ShimInfo, waits for
// a signal as a shim does, and does nothing else: no container, no runsc,
// no publisher. `publish-bench footprint -floor` measures it next to the
// shim and containerd-shim (docs/benchmarks.md): what the shim costs above
// the floor is its own doing; the floor itself is the toolchain's and the
// dependencies'. It takes the shim's runtime settings that any shim could
// take (one P from the first package init), so that the difference is what
// the shim does, not how it is tuned.
package main

import (
	// First, as in the shim: one P from the first package inits on.
	_ "github.com/google/gvisor-containerd-shim/internal/oneproc"

	"context"
	"fmt"
	"net"
	"os"
	"os/signal"

	_ "github.com/containerd/containerd/api/events"                   // the TaskExit the shim publishes
	_ "github.com/containerd/containerd/api/services/ttrpc/events/v1" // the ttrpc Forward client it publishes with
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	"golang.org/x/sys/unix"
)

// shimService is the v1 Shim API's ttrpc service name; a method it does not
// list answers Unimplemented.
const shimService = "containerd.runtime.linux.shim.v1.Shim"

func main() {
	if err := serve(); err != nil {
		fmt.Fprintln(os.Stderr, "shim-floor:", err)
		os.Exit(1)
	}
}

func serve() error {
	// A shim handles these (reaping, shutting down, surviving containerd
	// going away); os/signal's threads are part of the floor.
	signals := make(chan os.Signal, 32)
	signal.Notify(signals, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD, unix.SIGPIPE)
	l, err := net.FileListener(os.NewFile(3, "socket"))
	if err != nil {
		return fmt.Errorf("fd 3 is not the listening socket containerd passes a shim: %w", err)
	}
	server, err := ttrpc.NewServer()
	if err != nil {
		return err
	}
	server.Register(shimService, map[string]ttrpc.Method{
		"ShimInfo": func(ctx context.Context, unmarshal func(interface{}) error) (interface{}, error) {
			return &shimapi.ShimInfoResponse{ShimPid: uint32(os.Getpid())}, nil
		},
	})
	served := make(chan error, 1)
	go func() { served <- server.Serve(context.Background(), l) }()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case s := <-signals:
			if s == unix.SIGTERM || s == unix.SIGINT {
				return server.Close()
			}
		}
	}
}
