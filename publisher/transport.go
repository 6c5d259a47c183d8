package publisher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"syscall"

	grpcevents "github.com/containerd/containerd/api/services/events/v1"
	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
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

type grpcTransport struct {
	conn   *grpc.ClientConn
	events grpcevents.EventsClient
}

func dialGRPC(ctx context.Context, address string) (transport, error) {
	// Probe first so that a missing or refusing socket fails fast with the
	// dial error, which the sender uses to tell an outage from a downgrade.
	probe, err := dialUnix(ctx, address)
	if err != nil {
		return nil, err
	}
	probe.Close()
	conn, err := grpc.DialContext(ctx, "unix://"+address,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) { return dialUnix(ctx, address) }),
		grpc.WithBlock(),
	)
	if err != nil {
		return nil, fmt.Errorf("grpc dial %s: %w", address, err)
	}
	return &grpcTransport{conn: conn, events: grpcevents.NewEventsClient(conn)}, nil
}

func (t *grpcTransport) forward(ctx context.Context, env *envelope) error {
	_, err := t.events.Forward(ctx, &grpcevents.ForwardRequest{Envelope: &grpcevents.Envelope{
		Timestamp: env.timestamp,
		Namespace: env.namespace,
		Topic:     env.topic,
		Event:     env.event,
	}})
	return err
}

func (t *grpcTransport) close() error { return t.conn.Close() }

// isUnimplemented reports a daemon that answered but lacks the service or
// method; both ttrpc and gRPC carry gRPC status codes.
func isUnimplemented(err error) bool {
	s, ok := status.FromError(err)
	return ok && s.Code() == codes.Unimplemented
}

// execTransport forks `containerd publish` for every event.
type execTransport struct{ fallback Forwarder }

func (t execTransport) forward(ctx context.Context, env *envelope) error {
	return t.fallback.PublishAny(ctx, env.namespace, env.topic, env.event)
}

func (execTransport) close() error { return nil }
