package publisher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/google/gvisor-containerd-shim/internal/grpcunary"
)

// transport delivers one envelope per call over an established connection.
type transport interface {
	forward(ctx context.Context, env *envelope) error
	close() error
}

// Forwarder publishes one marshalled event; compat.Publisher satisfies it.
type Forwarder interface {
	PublishAny(ctx context.Context, namespace, topic string, event *types.Any) error
}

func dialUnix(ctx context.Context, path string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", path)
}

// isAbsent reports whether a dial error means nobody listens on the socket.
func isAbsent(err error) bool {
	return errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED)
}

type ttrpcTransport struct {
	client *ttrpc.Client
	events ttrpcevents.EventsService
}

func dialTTRPC(ctx context.Context, address string) (transport, error) {
	conn, err := dialUnix(ctx, address)
	if err != nil {
		return nil, err
	}
	client := ttrpc.NewClient(conn)
	return &ttrpcTransport{client: client, events: ttrpcevents.NewEventsClient(client)}, nil
}

func (t *ttrpcTransport) forward(ctx context.Context, env *envelope) error {
	_, err := t.events.Forward(ctx, &ttrpcevents.ForwardRequest{Envelope: &ttrpcevents.Envelope{
		Timestamp: env.timestamp,
		Namespace: env.namespace,
		Topic:     env.topic,
		Event:     env.event,
	}})
	return err
}

func (t *ttrpcTransport) close() error { return t.client.Close() }

// grpcTransport calls the gRPC events service through grpcunary rather than
// google.golang.org/grpc, which would cost every shim ~250 KiB of private
// memory for a fallback path (docs/benchmarks.md).
type grpcTransport struct {
	conn *grpcunary.Conn
}

// forwardMethod is containerd's gRPC Events.Forward. Its request has the
// same wire format as the ttrpc service's, whose Go type is used to marshal
// it so that the gRPC stubs (and with them grpc) are not linked.
const forwardMethod = "/containerd.services.events.v1.Events/Forward"

func dialGRPC(ctx context.Context, address string) (transport, error) {
	// A missing or refusing socket fails with the dial error itself, which
	// the sender uses to tell an outage from a downgrade.
	nc, err := dialUnix(ctx, address)
	if err != nil {
		return nil, err
	}
	// grpc-go's authority for a unix socket target.
	conn, err := grpcunary.Dial(ctx, nc, "localhost")
	if err != nil {
		return nil, fmt.Errorf("grpc dial %s: %w", address, err)
	}
	return &grpcTransport{conn: conn}, nil
}

func (t *grpcTransport) forward(ctx context.Context, env *envelope) error {
	request, err := (&ttrpcevents.ForwardRequest{Envelope: &ttrpcevents.Envelope{
		Timestamp: env.timestamp,
		Namespace: env.namespace,
		Topic:     env.topic,
		Event:     env.event,
	}}).Marshal()
	if err != nil {
		return err
	}
	_, err = t.conn.Invoke(ctx, forwardMethod, request)
	return err
}

func (t *grpcTransport) close() error { return t.conn.Close() }

// isUnimplemented reports a daemon that answered but lacks the service or
// method; both ttrpc and gRPC carry gRPC status codes.
func isUnimplemented(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unimplemented
}

// isRejection reports whether err is the daemon's answer refusing this
// event, which sending it again will not change, as opposed to a failure to
// reach or hear from the daemon, which is retried until it passes.
//
// Retried without bound (transient):
//   - an error without a status: the connection failed or broke;
//   - Unavailable: the daemon is going away or the connection broke
//     (grpcunary reports a broken connection and GOAWAY so);
//   - DeadlineExceeded and Canceled: the call was cut short (the publisher
//     sets no deadline, so it was the daemon or the connection), which says
//     nothing about the event;
//   - Aborted: a conflict that gRPC defines as retryable;
//   - Unimplemented: the daemon lacks the service; auto mode moves to the
//     next transport, a pinned one waits for a daemon that has it.
//
// Everything else is a rejection: InvalidArgument, FailedPrecondition,
// NotFound and the like are containerd's errdefs classes for a request it
// will not take; Unknown and Internal are its handler failing on this
// event; ResourceExhausted is the message exceeding the transport's maximum
// size (ttrpc answers it so; containerd has no rate limits), which stays
// exceeded.
func isRejection(err error) bool {
	s, ok := status.FromError(err)
	if !ok {
		return false
	}
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted, codes.Unimplemented:
		return false
	}
	return true
}

// execTransport forks `containerd publish` for every event.
type execTransport struct{ fallback Forwarder }

func (t execTransport) forward(ctx context.Context, env *envelope) error {
	return t.fallback.PublishAny(ctx, env.namespace, env.topic, env.event)
}

func (execTransport) close() error { return nil }
