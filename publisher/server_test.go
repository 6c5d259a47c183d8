package publisher

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	eventsapi "github.com/containerd/containerd/api/services/events/v1"
	ttrpcevents "github.com/containerd/containerd/api/services/ttrpc/events/v1"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/events/exchange"
	"github.com/containerd/containerd/namespaces"
	eventsservice "github.com/containerd/containerd/services/events"
	"github.com/containerd/ttrpc"
	"github.com/containerd/typeurl"
	"github.com/gogo/protobuf/types"
	"google.golang.org/grpc"
)

// eventServer is containerd's own events service (services/events over an
// events/exchange) served on real unix sockets, as the daemon serves it.
type eventServer struct {
	t        testing.TB
	address  string // gRPC socket; ttrpc is address + ".ttrpc"
	exchange *exchange.Exchange
	ttrpcSrv *ttrpc.Server
	grpcSrv  *grpc.Server
}

type serverOpts struct {
	noTTRPC, noGRPC bool // no listener at all
	// unimplemented serves the sockets without the events service.
	ttrpcUnimplemented, grpcUnimplemented bool
	// hang, when set, reads no ttrpc request until released, like a daemon
	// stopped with SIGSTOP.
	hang *hang
	// forward, when set, answers each Forward before the events service
	// does: a non-nil error is the daemon's answer, nil passes the event on.
	forward func(env *events.Envelope) error
}

type hang struct {
	released chan struct{}
}

func newHang() *hang { return &hang{released: make(chan struct{})} }

func (h *hang) release() { close(h.released) }

// hangListener's connections read nothing until the hang is released.
type hangListener struct {
	net.Listener
	h *hang
}

func (l hangListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return hangConn{Conn: c, h: l.h}, nil
}

type hangConn struct {
	net.Conn
	h *hang
}

func (c hangConn) Read(b []byte) (int, error) {
	<-c.h.released
	return c.Conn.Read(b)
}

func newAddress(t testing.TB) string {
	dir, err := os.MkdirTemp("", "pub-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return filepath.Join(dir, "c.sock")
}

// startServer serves address with a fresh exchange.
func startServer(t testing.TB, address string, opts serverOpts) *eventServer {
	s := &eventServer{t: t, address: address, exchange: exchange.NewExchange()}
	s.serve(opts)
	t.Cleanup(s.stop)
	return s
}

// serve (re)starts the listeners on the same sockets and exchange.
func (s *eventServer) serve(opts serverOpts) {
	svc := eventsservice.NewService(s.exchange)
	if !opts.noTTRPC {
		srv, err := ttrpc.NewServer()
		if err != nil {
			s.t.Fatal(err)
		}
		switch {
		case opts.ttrpcUnimplemented:
		case opts.forward != nil:
			ttrpcevents.RegisterEventsService(srv, filteringTTRPC{exchange: s.exchange, forward: opts.forward})
		default:
			svc.(interface{ RegisterTTRPC(*ttrpc.Server) error }).RegisterTTRPC(srv)
		}
		l := listen(s.t, s.address+".ttrpc")
		if opts.hang != nil {
			l = hangListener{Listener: l, h: opts.hang}
		}
		go srv.Serve(context.Background(), l)
		s.ttrpcSrv = srv
	}
	if !opts.noGRPC {
		srv := grpc.NewServer()
		switch {
		case opts.grpcUnimplemented:
		case opts.forward != nil:
			eventsapi.RegisterEventsServer(srv, filteringGRPC{EventsServer: svc, forward: opts.forward})
		default:
			svc.(interface{ Register(*grpc.Server) error }).Register(srv)
		}
		l := listen(s.t, s.address)
		go srv.Serve(l)
		s.grpcSrv = srv
	}
}

// filteringTTRPC is the ttrpc events service with serverOpts.forward first.
type filteringTTRPC struct {
	exchange *exchange.Exchange
	forward  func(*events.Envelope) error
}

func (f filteringTTRPC) Forward(ctx context.Context, r *ttrpcevents.ForwardRequest) (*types.Empty, error) {
	env := &events.Envelope{Timestamp: r.Envelope.Timestamp, Namespace: r.Envelope.Namespace, Topic: r.Envelope.Topic, Event: r.Envelope.Event}
	if err := f.forward(env); err != nil {
		return nil, err
	}
	if err := f.exchange.Forward(ctx, env); err != nil {
		return nil, err
	}
	return &types.Empty{}, nil
}

// filteringGRPC is the gRPC events service with serverOpts.forward first.
type filteringGRPC struct {
	eventsapi.EventsServer
	forward func(*events.Envelope) error
}

func (f filteringGRPC) Forward(ctx context.Context, r *eventsapi.ForwardRequest) (*types.Empty, error) {
	env := &events.Envelope{Timestamp: r.Envelope.Timestamp, Namespace: r.Envelope.Namespace, Topic: r.Envelope.Topic, Event: r.Envelope.Event}
	if err := f.forward(env); err != nil {
		return nil, err
	}
	return f.EventsServer.Forward(ctx, r)
}

func listen(t testing.TB, path string) net.Listener {
	os.Remove(path)
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stop closes listeners and every connection, like a daemon going away.
func (s *eventServer) stop() {
	if s.ttrpcSrv != nil {
		s.ttrpcSrv.Close()
		s.ttrpcSrv = nil
	}
	if s.grpcSrv != nil {
		s.grpcSrv.Stop()
		s.grpcSrv = nil
	}
	os.Remove(s.address + ".ttrpc")
	os.Remove(s.address)
}

// received collects envelopes from a subscriber of the exchange.
type received struct {
	mu   sync.Mutex
	envs []*events.Envelope
	more chan struct{}
}

func (s *eventServer) subscribe(t testing.TB) *received {
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ch, errs := s.exchange.Subscribe(ctx)
	r := &received{more: make(chan struct{}, 1)}
	go func() {
		for {
			select {
			case env := <-ch:
				r.mu.Lock()
				r.envs = append(r.envs, env)
				r.mu.Unlock()
				select {
				case r.more <- struct{}{}:
				default:
				}
			case <-errs:
				return
			}
		}
	}()
	return r
}

func (r *received) len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.envs)
}

// waitFor waits until at least n envelopes arrived.
func (r *received) waitFor(t testing.TB, n int, timeout time.Duration) []*events.Envelope {
	t.Helper()
	deadline := time.After(timeout)
	for r.len() < n {
		select {
		case <-r.more:
		case <-deadline:
			t.Fatalf("received %d events, want %d", r.len(), n)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*events.Envelope(nil), r.envs...)
}

// seqEvent is event number i: its sequence travels in ContainerID.
func seqEvent(i int) *eventtypes.TaskExit {
	return &eventtypes.TaskExit{ContainerID: strconv.Itoa(i), ID: strconv.Itoa(i), Pid: uint32(i), ExitStatus: uint32(i % 256)}
}

// seqOfAny is seqOf for a stand-in server, which has no t: -1 when env is
// not a sequence event.
func seqOfAny(env *events.Envelope) int {
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		return -1
	}
	e, ok := v.(*eventtypes.TaskExit)
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(e.ContainerID)
	if err != nil {
		return -1
	}
	return n
}

func seqOf(t testing.TB, env *events.Envelope) int {
	t.Helper()
	v, err := typeurl.UnmarshalAny(env.Event)
	if err != nil {
		t.Fatalf("unmarshal %s: %v", env.Topic, err)
	}
	e, ok := v.(*eventtypes.TaskExit)
	if !ok {
		t.Fatalf("event is %T, want TaskExit", v)
	}
	n, err := strconv.Atoi(e.ContainerID)
	if err != nil {
		t.Fatalf("bad sequence %q", e.ContainerID)
	}
	return n
}

// checkSequence asserts seqs is 0..n-1 in order, allowing an event to repeat
// right after itself (the one in flight when a connection broke); it returns
// the number of such repeats.
func checkSequence(t testing.TB, seqs []int, n int) (duplicates int) {
	t.Helper()
	want := 0
	for i, s := range seqs {
		switch {
		case s == want:
			want++
		case s == want-1 && i > 0 && seqs[i-1] == s:
			duplicates++
		default:
			t.Fatalf("event %d: got sequence %d, want %d (lost or reordered); around: %v", i, s, want, seqs[max(0, i-5):min(len(seqs), i+5)])
		}
	}
	if want != n {
		t.Fatalf("received events 0..%d, want 0..%d", want-1, n-1)
	}
	return duplicates
}

func nsCtx() context.Context {
	return namespaces.WithNamespace(context.Background(), "test-ns")
}

// recordingForwarder stands in for `containerd publish`: the fork path
// itself is tested against a real daemon in package compat.
type recordingForwarder struct {
	mu     sync.Mutex
	topics []string
	seqs   []int
}

func (f *recordingForwarder) PublishAny(_ context.Context, ns, topic string, event *types.Any) error {
	v, err := typeurl.UnmarshalAny(event)
	if err != nil {
		return err
	}
	n, _ := strconv.Atoi(v.(*eventtypes.TaskExit).ContainerID)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.topics = append(f.topics, ns+" "+topic)
	f.seqs = append(f.seqs, n)
	return nil
}
