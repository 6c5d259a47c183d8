package publisher

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/runtime"
	"github.com/containerd/typeurl"
	"github.com/google/gvisor-containerd-shim/compat"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/sirupsen/logrus"
)

func TestMain(m *testing.M) {
	// The exec transport forks through sys/reaper, as in the shim.
	containerdtest.ReapChildren()
	// Keep benchmark output readable; failures carry their own errors.
	log.L.Logger.SetLevel(logrus.WarnLevel)
	os.Exit(m.Run())
}

// Events published on each path reach a subscriber of a real containerd
// with namespace, topic, payload and the Publish-time timestamp intact.
func TestRealDaemonDelivers(t *testing.T) {
	d := containerdtest.Start(t, containerdtest.Config{})
	client := containerdtest.Client(t, d)
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC, ModeExec, ModeAuto} {
		t.Run(string(mode), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			envs, errs := client.EventService().Subscribe(ctx, `namespace=="test-ns"`)
			p := newPublisher(t, Config{Address: d.Address, Mode: mode, Fallback: compat.New("containerd", d.Address)})
			awaitSubscription(t, p, envs)
			const n = 20
			var before, after [n]time.Time
			for i := 0; i < n; i++ {
				before[i] = time.Now()
				publishSeq(t, p, i, i+1)
				after[i] = time.Now()
			}
			flush(t, p, 30*time.Second)
			for i := 0; i < n; i++ {
				select {
				case env := <-envs:
					if env.Topic == syncTopic {
						i--
						continue
					}
					if env.Namespace != "test-ns" || env.Topic != runtime.TaskExitEventTopic {
						t.Fatalf("envelope %d: namespace %q topic %q", i, env.Namespace, env.Topic)
					}
					v, err := typeurl.UnmarshalAny(env.Event)
					if err != nil {
						t.Fatal(err)
					}
					got, want := v.(*eventtypes.TaskExit), seqEvent(i)
					if got.ContainerID != want.ContainerID || got.Pid != want.Pid || got.ExitStatus != want.ExitStatus {
						t.Fatalf("event %d: %+v, want %+v", i, got, want)
					}
					// containerd publish stamps its own time; the direct paths
					// carry the moment of Publish.
					if mode != ModeExec && (env.Timestamp.Before(before[i]) || env.Timestamp.After(after[i])) {
						t.Fatalf("event %d timestamp %v outside Publish [%v, %v]", i, env.Timestamp, before[i], after[i])
					}
				case err := <-errs:
					t.Fatalf("subscription: %v", err)
				case <-ctx.Done():
					t.Fatalf("only %d of %d events arrived", i, n)
				}
			}
			want := mode
			if mode == ModeAuto {
				want = ModeTTRPC
			}
			if s := p.Stats(); s.Transport != string(want) || s.Delivered != s.Published || s.QueueDepth != 0 {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

const syncTopic = "/test/sync"

// awaitSubscription publishes sync events until one reaches the
// subscriber: Subscribe returns before the daemon has registered it.
func awaitSubscription(t *testing.T, p *Publisher, envs <-chan *events.Envelope) {
	t.Helper()
	for i := 0; i < 100; i++ {
		if err := p.Publish(nsCtx(), syncTopic, seqEvent(-1)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-envs:
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Fatal("subscription never received an event")
}

// A dead address is an outage: nothing is delivered, Flush says how many
// events wait, and the stats carry the dial error.
func TestDeadAddress(t *testing.T) {
	addr := newAddress(t)
	p := newPublisher(t, Config{Address: addr, MaxBackoff: 50 * time.Millisecond})
	publishSeq(t, p, 0, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if err := p.Flush(ctx); err == nil || !strings.Contains(err.Error(), "1 events still pending") {
		t.Fatalf("flush: %v", err)
	}
	if s := p.Stats(); !strings.Contains(s.LastError, addr+".ttrpc") || !strings.Contains(s.LastError, "no such file") {
		t.Fatalf("last error %q does not name the socket and cause", s.LastError)
	}
}

// Publish+Flush per event on each path against a real daemon, side by side:
//
//	go test -run '^$' -bench . -benchtime 2000x ./publisher/
func BenchmarkPublishFlush(b *testing.B) {
	containerdtest.RequireBinaries(b, "containerd")
	d, err := ctrdaemon.New(ctrdaemon.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	for _, mode := range []Mode{ModeTTRPC, ModeGRPC, ModeExec} {
		b.Run(string(mode), func(b *testing.B) {
			p, err := New(Config{Address: d.Address, Mode: mode, Fallback: compat.New("containerd", d.Address)})
			if err != nil {
				b.Fatal(err)
			}
			defer p.Close(context.Background())
			ctx := nsCtx()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := p.Publish(ctx, runtime.TaskExitEventTopic, seqEvent(i)); err != nil {
					b.Fatal(err)
				}
				if err := p.Flush(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
