package publisher

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/runtime"
	"github.com/sirupsen/logrus"
	logtest "github.com/sirupsen/logrus/hooks/test"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func newPublisher(t testing.TB, cfg Config) *Publisher {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.Close(ctx)
	})
	return p
}

func publishSeq(t testing.TB, p *Publisher, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		if err := p.Publish(nsCtx(), runtime.TaskExitEventTopic, seqEvent(i)); err != nil {
			t.Fatalf("publish %d: %v", i, err)
		}
	}
}

func flush(t testing.TB, p *Publisher, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if err := p.Flush(ctx); err != nil {
		t.Fatalf("flush: %v (stats %+v)", err, p.Stats())
	}
}

func seqs(t testing.TB, envs []*events.Envelope) []int {
	out := make([]int, len(envs))
	for i, e := range envs {
		out[i] = seqOf(t, e)
	}
	return out
}

func TestTenThousandInOrder(t *testing.T) {
	const n = 10000
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC} {
		t.Run(string(mode), func(t *testing.T) {
			addr := newAddress(t)
			srv := startServer(t, addr, serverOpts{})
			got := srv.subscribe(t)
			p := newPublisher(t, Config{Address: addr, Mode: mode})
			publishSeq(t, p, 0, n)
			flush(t, p, time.Minute)
			envs := got.waitFor(t, n, 10*time.Second)
			if d := checkSequence(t, seqs(t, envs), n); d != 0 {
				t.Fatalf("%d duplicates without any fault", d)
			}
			for _, e := range envs {
				if e.Namespace != "test-ns" || e.Topic != runtime.TaskExitEventTopic {
					t.Fatalf("envelope namespace %q topic %q", e.Namespace, e.Topic)
				}
			}
			s := p.Stats()
			if s.Published != n || s.Delivered != n || s.QueueDepth != 0 || s.Transport != string(mode) {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

// The daemon goes away mid-stream and comes back 2 s later on the same
// socket: nothing is lost or reordered, and only the event in flight may
// arrive twice.
func TestServerRestartMidStream(t *testing.T) {
	const n = 3000
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC} {
		t.Run(string(mode), func(t *testing.T) {
			addr := newAddress(t)
			srv := startServer(t, addr, serverOpts{})
			got := srv.subscribe(t)
			p := newPublisher(t, Config{Address: addr, Mode: mode, MaxBackoff: 200 * time.Millisecond})
			done := make(chan struct{})
			go func() {
				defer close(done)
				for i := 0; i < n; i++ {
					p.Publish(nsCtx(), runtime.TaskExitEventTopic, seqEvent(i))
					if i%100 == 0 {
						time.Sleep(5 * time.Millisecond) // a stream, not one burst
					}
				}
			}()
			got.waitFor(t, 500, 10*time.Second)
			srv.stop()
			// Requests read before the stop still reach the exchange, and
			// the subscriber hears of them asynchronously: let them land.
			time.Sleep(200 * time.Millisecond)
			stoppedAt := got.len()
			time.Sleep(1800 * time.Millisecond)
			if got.len() != stoppedAt {
				t.Fatalf("%d events arrived while the server was down", got.len()-stoppedAt)
			}
			srv.serve(serverOpts{})
			<-done
			flush(t, p, 30*time.Second)
			envs := got.waitFor(t, n, 10*time.Second)
			time.Sleep(100 * time.Millisecond) // let stray duplicates show
			envs = got.waitFor(t, len(envs), time.Second)
			dups := checkSequence(t, seqs(t, envs), n)
			if dups > 1 {
				t.Fatalf("%d duplicates; at most the one in flight may repeat", dups)
			}
			s := p.Stats()
			if s.Reconnects < 1 || s.Retries < 1 || s.LastError == "" {
				t.Fatalf("stats do not show the outage: %+v", s)
			}
			t.Logf("stopped after %d events; duplicates %d; stats %+v", stoppedAt, dups, s)
		})
	}
}

func TestAutoSelectsTransport(t *testing.T) {
	cases := []struct {
		name string
		opts serverOpts
		want Mode
	}{
		{"both", serverOpts{}, ModeTTRPC},
		{"grpc only", serverOpts{noTTRPC: true}, ModeGRPC},
		{"ttrpc without events service", serverOpts{ttrpcUnimplemented: true}, ModeGRPC},
		{"neither implements events", serverOpts{ttrpcUnimplemented: true, grpcUnimplemented: true}, ModeExec},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			addr := newAddress(t)
			srv := startServer(t, addr, c.opts)
			got := srv.subscribe(t)
			fork := &recordingForwarder{}
			p := newPublisher(t, Config{Address: addr, Fallback: fork})
			publishSeq(t, p, 0, 50)
			flush(t, p, 10*time.Second)
			if s := p.Stats(); s.Transport != string(c.want) {
				t.Fatalf("transport %s, want %s (stats %+v)", s.Transport, c.want, s)
			}
			var seen []int
			if c.want == ModeExec {
				seen = fork.seqs
				if fork.topics[0] != "test-ns "+runtime.TaskExitEventTopic {
					t.Fatalf("fork got %q", fork.topics[0])
				}
			} else {
				seen = seqs(t, got.waitFor(t, 50, 5*time.Second))
			}
			checkSequence(t, seen, 50)
		})
	}
}

// A daemon that is down is an outage: auto keeps ttrpc and delivers, with
// the Publish-time timestamp, once the daemon is back.
func TestOutageDoesNotDowngrade(t *testing.T) {
	addr := newAddress(t)
	p := newPublisher(t, Config{Address: addr, Fallback: &recordingForwarder{}, MaxBackoff: 100 * time.Millisecond})
	before := time.Now()
	publishSeq(t, p, 0, 10)
	after := time.Now()
	time.Sleep(500 * time.Millisecond)
	if s := p.Stats(); s.Transport != string(ModeTTRPC) || s.Delivered != 0 || s.LastError == "" {
		t.Fatalf("during outage: %+v", s)
	}
	srv := startServer(t, addr, serverOpts{})
	got := srv.subscribe(t)
	flush(t, p, 10*time.Second)
	envs := got.waitFor(t, 10, 5*time.Second)
	checkSequence(t, seqs(t, envs), 10)
	for _, e := range envs {
		if e.Timestamp.Before(before) || e.Timestamp.After(after) {
			t.Fatalf("timestamp %v not taken at Publish (between %v and %v)", e.Timestamp, before, after)
		}
	}
	if s := p.Stats(); s.Transport != string(ModeTTRPC) {
		t.Fatalf("transport %s after outage, want ttrpc", s.Transport)
	}
}

// A hung daemon (requests accepted, never answered) gets no second copy:
// the request it holds is awaited, and reported as a stall, since a re-sent
// copy would be delivered along with the old one, late and out of order.
func TestHungDaemonGetsNoDuplicate(t *testing.T) {
	addr := newAddress(t)
	h := newHang()
	srv := startServer(t, addr, serverOpts{hang: h})
	got := srv.subscribe(t)
	p := newPublisher(t, Config{Address: addr, Mode: ModeTTRPC, RequestTimeout: 100 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	publishSeq(t, p, 0, 5)
	time.Sleep(time.Second) // ten request timeouts
	s := p.Stats()
	if s.Delivered != 0 || s.Stalls != 1 || !strings.Contains(s.LastError, "has not answered") {
		t.Fatalf("while hung: %+v", s)
	}
	h.release()
	flush(t, p, 10*time.Second)
	envs := got.waitFor(t, 5, 5*time.Second)
	time.Sleep(200 * time.Millisecond) // let late copies arrive
	envs = got.waitFor(t, len(envs), time.Second)
	if d := checkSequence(t, seqs(t, envs), 5); d != 0 {
		t.Fatalf("%d duplicates after a hang", d)
	}
	if s := p.Stats(); s.Retries != 0 || s.Reconnects != 0 {
		t.Fatalf("the publisher re-sent to a hung daemon: %+v", s)
	}
}

// Against a hung daemon, memory stays bounded by the queue: publishers wait
// for room and fail when their context ends, instead of buffering forever.
func TestHungDaemonBoundsMemory(t *testing.T) {
	addr := newAddress(t)
	h := newHang()
	startServer(t, addr, serverOpts{hang: h})
	defer h.release()
	const queueSize = 256
	p := newPublisher(t, Config{Address: addr, QueueSize: queueSize, RequestTimeout: 100 * time.Millisecond})
	var before goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&before)
	publishSeq(t, p, 0, queueSize)
	// The daemon hangs: every further Publish waits for room until its
	// context ends (here: at once) and fails.
	expired, cancel := context.WithCancel(nsCtx())
	cancel()
	const extra = 100 * queueSize
	var failed int
	for i := queueSize; i < queueSize+extra; i++ {
		if p.Publish(expired, runtime.TaskExitEventTopic, seqEvent(i)) != nil {
			failed++
		}
	}
	var after goruntime.MemStats
	goruntime.GC()
	goruntime.ReadMemStats(&after)
	if s := p.Stats(); s.QueueDepth != queueSize || int(s.Published) != queueSize || failed != extra {
		t.Fatalf("queue depth %d, published %d, failed %d: want the queue full and every other publish refused", s.QueueDepth, s.Published, failed)
	}
	// Buffering the refused events too would take several MiB.
	if grew := int64(after.HeapAlloc) - int64(before.HeapAlloc); grew > 1<<20 {
		t.Fatalf("heap grew by %d bytes with a full queue of %d events", grew, queueSize)
	}
}

func TestFullQueueFailsWhenContextEnds(t *testing.T) {
	p := newPublisher(t, Config{Address: newAddress(t), QueueSize: 4})
	publishSeq(t, p, 0, 4)
	ctx, cancel := context.WithTimeout(nsCtx(), 100*time.Millisecond)
	defer cancel()
	err := p.Publish(ctx, runtime.TaskExitEventTopic, seqEvent(4))
	if err == nil || !strings.Contains(err.Error(), "queue full") {
		t.Fatalf("publish into full queue: %v", err)
	}
	if s := p.Stats(); s.Published != 4 || s.QueueDepth != 4 {
		t.Fatalf("stats %+v", s)
	}
}

func TestFlushReportsPending(t *testing.T) {
	p := newPublisher(t, Config{Address: newAddress(t)})
	publishSeq(t, p, 0, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	err := p.Flush(ctx)
	if err == nil || !strings.Contains(err.Error(), "3 events still pending") {
		t.Fatalf("flush: %v", err)
	}
}

func TestCloseReportsUndelivered(t *testing.T) {
	p, err := New(Config{Address: newAddress(t)})
	if err != nil {
		t.Fatal(err)
	}
	publishSeq(t, p, 0, 2)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if err := p.Close(ctx); err == nil || !strings.Contains(err.Error(), "2 events still pending") {
		t.Fatalf("close: %v", err)
	}
	if err := p.Publish(nsCtx(), runtime.TaskExitEventTopic, seqEvent(3)); err == nil {
		t.Fatal("publish after close succeeded")
	}
}

func TestPublishRejectsBadInput(t *testing.T) {
	p := newPublisher(t, Config{Address: newAddress(t)})
	cases := []struct {
		ctx   context.Context
		topic string
		want  string
	}{
		{context.Background(), runtime.TaskExitEventTopic, "namespace is required"},
		{nsCtx(), "tasks/exit", "invalid topic"},
		{nsCtx(), "/tasks/ex it", "invalid topic"},
	}
	for _, c := range cases {
		err := p.Publish(c.ctx, c.topic, seqEvent(0))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Publish(%q): %v, want error containing %q", c.topic, err, c.want)
		}
	}
	if s := p.Stats(); s.Published != 0 {
		t.Fatalf("bad events were queued: %+v", s)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{Address: "/x", Mode: "carrier-pigeon"}, "unknown publisher mode"},
		{Config{}, "address is empty"},
		{Config{Address: "/x", Mode: ModeExec}, "needs a fork fallback"},
	} {
		if _, err := New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("New(%+v): %v, want %q", c.cfg, err, c.want)
		}
	}
}

// An idle shim must not wake: once its events are delivered the publisher
// holds no running timer (the watchdog is armed only while a request is in
// flight) and no goroutine but the sender, parked on the queue. A ticker
// left running would fire here many times over.
func TestIdlePublisherDoesNotWake(t *testing.T) {
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC} {
		t.Run(string(mode), func(t *testing.T) {
			addr := newAddress(t)
			srv := startServer(t, addr, serverOpts{})
			got := srv.subscribe(t)
			const timeout = 50 * time.Millisecond
			p := newPublisher(t, Config{Address: addr, Mode: mode, RequestTimeout: timeout})
			publishSeq(t, p, 0, 50)
			flush(t, p, 10*time.Second)
			got.waitFor(t, 50, 5*time.Second)
			// A request slower than the timeout fires the watchdog; on a
			// loaded machine its callback may run a little late.
			time.Sleep(4 * timeout)
			fired := p.watchdogRuns.Load()
			time.Sleep(20 * timeout)
			if n := p.watchdogRuns.Load() - fired; n != 0 {
				t.Errorf("the watchdog fired %d times with nothing in flight", n)
			}
			buf := make([]byte, 1<<20)
			stacks := string(buf[:goruntime.Stack(buf, true)])
			var ours []string
			for _, g := range strings.Split(stacks, "\n\n") {
				if strings.Contains(g, "publisher.(*Publisher)") || strings.Contains(g, "created by github.com/google/gvisor-containerd-shim/publisher.New") {
					ours = append(ours, g)
				}
			}
			if len(ours) != 1 || !strings.Contains(ours[0], "(*queue).head") {
				t.Errorf("idle publisher goroutines, want only the sender parked on the queue:\n%s", strings.Join(ours, "\n\n"))
			}
		})
	}
}

// A daemon that rejects one event with InvalidArgument gets it
// maxRejections times; it is then dropped, logged with its topic and
// container id, and counted, and the events behind it still arrive, in
// order. Before, it was retried forever and nothing behind it moved.
func TestRejectedEventIsDropped(t *testing.T) {
	const n, bad = 20, 5
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC} {
		t.Run(string(mode), func(t *testing.T) {
			defer log.L.Logger.ReplaceHooks(log.L.Logger.ReplaceHooks(make(logrus.LevelHooks)))
			logged := logtest.NewLocal(log.L.Logger)
			var tries atomic.Int32
			addr := newAddress(t)
			srv := startServer(t, addr, serverOpts{forward: func(env *events.Envelope) error {
				if seqOfAny(env) == bad {
					tries.Add(1)
					return status.Error(codes.InvalidArgument, "stand-in rejects event 5")
				}
				return nil
			}})
			got := srv.subscribe(t)
			p := newPublisher(t, Config{Address: addr, Mode: mode})
			publishSeq(t, p, 0, n)
			flush(t, p, 10*time.Second)
			envs := got.waitFor(t, n-1, 10*time.Second)
			var want []int
			for i := 0; i < n; i++ {
				if i != bad {
					want = append(want, i)
				}
			}
			if g := seqs(t, envs); !slices.Equal(g, want) {
				t.Fatalf("received %v, want %v", g, want)
			}
			if got := tries.Load(); got != maxRejections {
				t.Fatalf("the rejected event was sent %d times, want %d", got, maxRejections)
			}
			s := p.Stats()
			if s.Published != n || s.Delivered != n-1 || s.Dropped != 1 || s.QueueDepth != 0 || !strings.Contains(s.LastError, "InvalidArgument") {
				t.Fatalf("stats %+v", s)
			}
			var drops []*logrus.Entry
			for _, e := range logged.AllEntries() {
				if e.Level == logrus.ErrorLevel {
					drops = append(drops, e)
				}
			}
			if len(drops) != 1 || drops[0].Data["topic"] != runtime.TaskExitEventTopic || drops[0].Data["container_id"] != strconv.Itoa(bad) {
				t.Fatalf("want one error naming topic %s and container %d, logged %v", runtime.TaskExitEventTopic, bad, drops)
			}
		})
	}
}

// Answers that say nothing about the event itself are retried past
// maxRejections: the event is delivered in its place, nothing is dropped.
func TestTransientAnswersAreRetried(t *testing.T) {
	const n, held = 10, 3
	for _, code := range []codes.Code{codes.Unavailable, codes.DeadlineExceeded, codes.Canceled, codes.Aborted} {
		t.Run(code.String(), func(t *testing.T) {
			var tries atomic.Int32
			addr := newAddress(t)
			srv := startServer(t, addr, serverOpts{forward: func(env *events.Envelope) error {
				if seqOfAny(env) == held && tries.Add(1) <= 2*maxRejections {
					return status.Error(code, "stand-in is busy")
				}
				return nil
			}})
			got := srv.subscribe(t)
			p := newPublisher(t, Config{Address: addr, Mode: ModeTTRPC, MaxBackoff: 20 * time.Millisecond})
			publishSeq(t, p, 0, n)
			flush(t, p, 10*time.Second)
			checkSequence(t, seqs(t, got.waitFor(t, n, 10*time.Second)), n)
			if s := p.Stats(); s.Dropped != 0 || s.Delivered != n {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestIsRejection(t *testing.T) {
	for _, c := range []struct {
		err  error
		want bool
	}{
		{errors.New("connection reset"), false},
		{status.Error(codes.Unavailable, ""), false},
		{status.Error(codes.DeadlineExceeded, ""), false},
		{status.Error(codes.Canceled, ""), false},
		{status.Error(codes.Aborted, ""), false},
		{status.Error(codes.Unimplemented, ""), false},
		{status.Error(codes.InvalidArgument, ""), true},
		{status.Error(codes.FailedPrecondition, ""), true},
		{status.Error(codes.NotFound, ""), true},
		{status.Error(codes.ResourceExhausted, ""), true},
		{status.Error(codes.Unknown, ""), true},
		{status.Error(codes.Internal, ""), true},
	} {
		if got := isRejection(fmt.Errorf("ttrpc forward /tasks/exit: %w", c.err)); got != c.want {
			t.Errorf("isRejection(%v) = %v, want %v", c.err, got, c.want)
		}
	}
}
