package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/metrics"
	"strings"
	"time"

	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/namespaces"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/containerd/sys/reaper"
	"github.com/containerd/ttrpc"
	ptypes "github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/compat"
	"github.com/google/gvisor-containerd-shim/internal/memtrim"
	"github.com/google/gvisor-containerd-shim/publisher"
	"github.com/google/gvisor-containerd-shim/shim/config"
	"golang.org/x/sys/unix"
)

const (
	// defaultFlushTimeout bounds the final flush of the publisher on exit
	// when [publisher] flush_timeout is not set.
	defaultFlushTimeout = 5 * time.Second
	// drainTimeout bounds how long stopping the server waits for requests
	// in flight (a Wait returns once the container is killed).
	drainTimeout = 5 * time.Second
	// cleanupTimeout bounds the kill and delete of the container on exit.
	cleanupTimeout = 30 * time.Second
)

// runRunsc serves the Shim API until SIGTERM or SIGINT, or until the server
// fails.
func runRunsc(flags Flags, stderr io.Writer, newService NewService) error {
	if err := validate(flags); err != nil {
		return err
	}
	cfg, err := loadConfig(flags.ConfigPath)
	if err != nil {
		return serveUnusable(flags, stderr, err)
	}
	ctx := setupLogging(flags, stderr)
	if ignored := flags.ignored(); len(ignored) > 0 {
		log.G(ctx).WithFields(ignored).Debug("ignoring command-line arguments the runsc shim has no use for")
	}

	// Signals first, so that no child exit is missed once runsc runs.
	signals := make(chan os.Signal, 32)
	signal.Notify(signals, unix.SIGTERM, unix.SIGINT, unix.SIGCHLD, unix.SIGPIPE, unix.SIGUSR1)
	defer signal.Stop(signals)
	// Orphans of the container (runsc's sandbox and gofer) must be
	// reparented to the shim so that it sees their exits.
	if err := reaper.SetSubreaper(1); err != nil {
		return fmt.Errorf("become subreaper: %w", err)
	}

	bundle, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("bundle directory: %w", err)
	}
	l, err := listen(flags.Socket)
	if err != nil {
		return err
	}
	defer l.Close()

	server, err := newServer(memtrim.New(uint64(cfg.Shim.ReturnMemoryAfter)))
	if err != nil {
		return fmt.Errorf("ttrpc server: %w", err)
	}
	pub, err := publisher.New(publisherConfig(flags, cfg))
	if err != nil {
		return fmt.Errorf("event publisher: %w", err)
	}
	flushTimeout := cfg.Publisher.FlushTimeout
	if flushTimeout == 0 {
		flushTimeout = defaultFlushTimeout
	}
	sv, err := newService(ServiceInputs{Flags: flags, Config: cfg, BundlePath: bundle, Publisher: pub})
	if err != nil {
		closePublisher(ctx, pub, flushTimeout)
		return fmt.Errorf("shim service: %w", err)
	}
	shimapi.RegisterShimService(server, sv)

	served, serving := serveInBackground(ctx, server, l)
	log.G(ctx).WithFields(map[string]interface{}{"bundle": bundle, "socket": socketName(flags.Socket)}).Debug("serving the v1 shim API")

	var failure error
	if sig := handleSignals(ctx, signals, serving); sig != nil {
		log.G(ctx).WithField("signal", sig).Info("shutting down")
	} else {
		// Serve only returns on its own when the listener breaks:
		// containerd can no longer reach the shim.
		failure = fmt.Errorf("ttrpc server failed: %w", <-served)
	}
	// Children exiting meanwhile (the container's processes, runsc, a
	// forked `containerd publish`) must still be reaped, or their waiters
	// would hang; a repeated SIGTERM changes nothing.
	terminated := make(chan struct{})
	go func() {
		terminate(ctx, flags.Namespace, server, sv)
		closePublisher(ctx, pub, flushTimeout)
		close(terminated)
	}()
	for handleSignals(ctx, signals, terminated) != nil {
	}
	return failure
}

// handleSignals reaps children on SIGCHLD, dumps stacks on SIGUSR1 and
// ignores SIGPIPE (containerd going away must not kill the shim) until stop
// is closed (it returns nil) or SIGTERM or SIGINT arrives (it returns it).
func handleSignals(ctx context.Context, signals <-chan os.Signal, stop <-chan struct{}) os.Signal {
	for {
		select {
		case <-stop:
			return nil
		case s := <-signals:
			switch s {
			case unix.SIGCHLD:
				if err := reaper.Reap(); err != nil {
					log.G(ctx).WithError(err).Error("reap exit status")
				}
			case unix.SIGUSR1:
				dumpStacks(ctx)
			case unix.SIGTERM, unix.SIGINT:
				return s
			}
		}
	}
}

// terminate stops serving, kills every process of the container and deletes
// it. Requests in flight get drainTimeout to finish; a Wait in flight
// finishes once the kill lands.
func terminate(ctx context.Context, namespace string, server *ttrpc.Server, sv shimapi.ShimService) {
	drained := make(chan error, 1)
	drainCtx, cancelDrain := context.WithTimeout(ctx, drainTimeout)
	defer cancelDrain()
	go func() { drained <- server.Shutdown(drainCtx) }()

	cctx, cancel := context.WithTimeout(namespaces.WithNamespace(ctx, namespace), cleanupTimeout)
	defer cancel()
	if _, err := sv.Kill(cctx, &shimapi.KillRequest{Signal: uint32(unix.SIGKILL), All: true}); err != nil {
		log.G(ctx).WithError(err).Debug("kill container on shutdown")
	}
	if _, err := sv.Delete(cctx, &ptypes.Empty{}); err != nil {
		log.G(ctx).WithError(err).Debug("delete container on shutdown")
	}
	if err := <-drained; err != nil && !errors.Is(err, ttrpc.ErrServerClosed) {
		log.G(ctx).WithError(err).Warn("requests still in flight at shutdown; closing their connections")
	}
	server.Close()
}

// publisherConfig wires [publisher] and the flags into the publisher; the
// fork fallback runs -containerd-binary, as the seed's publisher did.
func publisherConfig(flags Flags, cfg config.Config) publisher.Config {
	return publisher.Config{
		Address:        flags.Address,
		Mode:           cfg.Publisher.Mode,
		QueueSize:      cfg.Publisher.QueueSize,
		RequestTimeout: cfg.Publisher.RequestTimeout,
		Fallback:       compat.New(flags.ContainerdBinary, flags.Address),
	}
}

// closePublisher delivers what is still queued, within timeout.
func closePublisher(ctx context.Context, pub *publisher.Publisher, timeout time.Duration) {
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := pub.Close(cctx); err != nil {
		log.G(ctx).WithError(err).Error("events not delivered to containerd before exit")
	}
}

func socketName(path string) string {
	if path == "" {
		return fmt.Sprintf("[inherited fd %d]", inheritedFD)
	}
	return "@" + path
}

// dumpStacks logs every goroutine's stack, as containerd's shims do on SIGUSR1.
func dumpStacks(ctx context.Context) {
	buf := make([]byte, 16<<10)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	log.G(ctx).Infof("=== BEGIN goroutine stack dump ===\n%s\n=== END goroutine stack dump ===", buf)
	log.G(ctx).WithFields(memoryClasses()).Info("memory classes")
}

// memoryClasses reads where the Go runtime's memory is, by runtime/metrics
// class (bytes, keyed by the class name after /memory/classes/): what a
// shim's USS is made of, for a soak run to tell heap from stacks and
// runtime metadata.
func memoryClasses() log.Fields {
	var samples []metrics.Sample
	for _, d := range metrics.All() {
		if strings.HasPrefix(d.Name, "/memory/classes/") && d.Kind == metrics.KindUint64 {
			samples = append(samples, metrics.Sample{Name: d.Name})
		}
	}
	metrics.Read(samples)
	fields := log.Fields{}
	for _, s := range samples {
		name := strings.TrimSuffix(strings.TrimPrefix(s.Name, "/memory/classes/"), ":bytes")
		fields[name] = s.Value.Uint64()
	}
	return fields
}
