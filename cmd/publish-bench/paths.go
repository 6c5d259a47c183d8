package main

import (
	"context"
	"fmt"
	"net"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl"
	"github.com/google/gvisor-containerd-shim/compat"
	"github.com/google/gvisor-containerd-shim/publisher"
)

// topicTaskExit is the topic a shim publishes TaskExit on.
const topicTaskExit = "/tasks/exit"

// Path names, also the keys of the JSON output.
const (
	pathFork  = "fork"  // `containerd publish` per event (compat)
	pathGRPC  = "grpc"  // our publisher over gRPC
	pathTTRPC = "ttrpc" // our publisher over ttrpc
	pathFloor = "floor" // bare ttrpc client calling Forward: the daemon's own cost
)

var allPaths = []string{pathFork, pathGRPC, pathTTRPC, pathFloor}

// sender is one publishing client, as one shim holds it for its life.
type sender interface {
	// publish hands the event to the path. The fork and floor paths return
	// once the daemon has it; the publisher paths once it is queued.
	publish(ctx context.Context, exit *eventstypes.TaskExit) error
	// flush returns once every published event was accepted by the daemon.
	flush(ctx context.Context) error
	close(ctx context.Context) error
}

// target says where the paths publish; the namespace travels in the context.
type target struct {
	address string // containerd's gRPC socket
	binary  string // containerd binary the fork path runs
}

func openPath(name string, t target) (sender, error) {
	switch name {
	case pathFork:
		return forkSender{compat.New(t.binary, t.address)}, nil
	case pathGRPC:
		return newPublisherSender(t, publisher.ModeGRPC)
	case pathTTRPC:
		return newPublisherSender(t, publisher.ModeTTRPC)
	case pathFloor:
		return &floorSender{address: t.address}, nil
	}
	return nil, fmt.Errorf("unknown path %q (want one of fork, grpc, ttrpc, floor)", name)
}

type forkSender struct{ p *compat.Publisher }

func (f forkSender) publish(ctx context.Context, exit *eventstypes.TaskExit) error {
	return f.p.Publish(ctx, topicTaskExit, exit)
}
func (forkSender) flush(context.Context) error { return nil }
func (forkSender) close(context.Context) error { return nil }

type publisherSender struct{ p *publisher.Publisher }

// newPublisherSender pins the transport: no fallback, so a failing direct
// path shows up as errors instead of being measured as the fork path.
func newPublisherSender(t target, mode publisher.Mode) (sender, error) {
	p, err := publisher.New(publisher.Config{Address: t.address, Mode: mode})
	if err != nil {
		return nil, err
	}
	return publisherSender{p}, nil
}

func (s publisherSender) publish(ctx context.Context, exit *eventstypes.TaskExit) error {
	return s.p.Publish(ctx, topicTaskExit, exit)
}
func (s publisherSender) flush(ctx context.Context) error { return s.p.Flush(ctx) }
func (s publisherSender) close(ctx context.Context) error { return s.p.Close(ctx) }

// floorSender is the least a client can do: one ttrpc Forward per event on
// a connection it keeps, nothing queued. Like the publisher, it dials on its
// first event, so a churn container's first latency includes the dial on
// both.
type floorSender struct {
	address string
	client  *ttrpc.Client
	events  ttrpcevents.EventsService
}

func (f *floorSender) publish(ctx context.Context, exit *eventstypes.TaskExit) error {
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return err
	}
	any, err := typeurl.MarshalAny(exit)
	if err != nil {
		return err
	}
	if f.client == nil {
		var d net.Dialer
		conn, err := d.DialContext(ctx, "unix", f.address+".ttrpc")
		if err != nil {
			return fmt.Errorf("floor path: dial %s.ttrpc: %w", f.address, err)
		}
		f.client = ttrpc.NewClient(conn)
		f.events = ttrpcevents.NewEventsClient(f.client)
	}
	_, err = f.events.Forward(ctx, &ttrpcevents.ForwardRequest{Envelope: &ttrpcevents.Envelope{
		Timestamp: time.Now().UTC(),
		Namespace: ns,
		Topic:     topicTaskExit,
		Event:     any,
	}})
	return err
}

func (*floorSender) flush(context.Context) error { return nil }

func (f *floorSender) close(context.Context) error {
	if f.client == nil {
		return nil
	}
	return f.client.Close()
}
