// Package publisher delivers a shim's events to containerd over one
// persistent connection to its events API: ttrpc Forward on
// <address>.ttrpc, or gRPC Forward on <address>, with the fork path of
// package compat as the last resort.
//
// Publish only enqueues. One sender goroutine keeps one request in flight,
// because containerd serves each request in its own goroutine and two in
// flight may reach subscribers in either order. A send that fails because
// the daemon is unreachable, restarting or busy is retried at the head of
// the queue until it is acknowledged: such events are never dropped and
// never reordered. An event the daemon answers with a permanent rejection
// (InvalidArgument and the like: see isRejection) is tried maxRejections
// times, then logged, counted and dropped, so that the events behind it
// still get through. A request the daemon holds is awaited, never re-sent:
// the daemon would handle the old copy too, late. The only duplicate
// possible is the event in flight when a connection breaks: its fate is
// unknown, so it is sent again.
package publisher

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/identifiers"
	"github.com/containerd/containerd/log"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/typeurl"
)

// Mode selects the transport.
type Mode string

const (
	// ModeAuto starts with ttrpc, moves to gRPC when the daemon answers
	// without a ttrpc listener or events service, and to the fork fallback
	// when gRPC lacks the service too. A daemon that is down is an outage,
	// never a reason to move.
	ModeAuto Mode = "auto"
	// ModeTTRPC uses containerd's ttrpc events service only.
	ModeTTRPC Mode = "ttrpc"
	// ModeGRPC uses containerd's gRPC events service only.
	ModeGRPC Mode = "grpc"
	// ModeExec forks `containerd publish` for every event (Config.Fallback).
	ModeExec Mode = "exec"
)

// ParseMode checks a mode name; "" means ModeAuto.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case "":
		return ModeAuto, nil
	case ModeAuto, ModeTTRPC, ModeGRPC, ModeExec:
		return m, nil
	}
	return "", fmt.Errorf("unknown publisher mode %q (want auto, ttrpc, grpc or exec)", s)
}

const (
	// DefaultQueueSize is Config.QueueSize's default.
	DefaultQueueSize = 4096
	// DefaultRequestTimeout is Config.RequestTimeout's default.
	DefaultRequestTimeout = 5 * time.Second
	// DefaultMaxBackoff is Config.MaxBackoff's default.
	DefaultMaxBackoff = 2 * time.Second
	initialBackoff    = 10 * time.Millisecond
)

// Config configures a Publisher. Zero values take the defaults.
type Config struct {
	Address        string        // containerd's gRPC socket; ttrpc is Address + ".ttrpc"
	Mode           Mode          // "" means ModeAuto
	QueueSize      int           // events waiting for delivery before Publish blocks
	RequestTimeout time.Duration // bound on a dial; a request held longer is reported (and awaited)
	MaxBackoff     time.Duration // cap of the exponential reconnect backoff
	Fallback       Forwarder     // fork path: required by ModeExec, auto's last resort
}

// Stats is a snapshot of the publisher's counters.
type Stats struct {
	Published  uint64 // events accepted by Publish
	Delivered  uint64 // events acknowledged by the daemon
	Retries    uint64 // sends or connection attempts repeated after a failure
	Reconnects uint64 // connections established after the first
	Stalls     uint64 // requests the daemon held longer than RequestTimeout
	Dropped    uint64 // events the daemon rejected maxRejections times, dropped
	Transport  string // transport in use: ttrpc, grpc or exec
	QueueDepth int    // events accepted but not yet acknowledged
	LastError  string // most recent delivery error, "" if none yet
}

// Publisher implements containerd's events.Publisher. Create it with New.
type Publisher struct {
	cfg   Config
	queue *queue

	stop    chan struct{} // closed by Close to end the sender
	stopped chan struct{} // closed when the sender has returned
	runCtx  context.Context
	cancel  context.CancelFunc

	closeOnce sync.Once
	closeErr  error
	validated sync.Map // "namespace\x00topic" pairs that passed validate

	mu         sync.Mutex // guards the fields below, written by the sender
	kind       Mode       // transport in use (never ModeAuto)
	retries    uint64
	reconnects uint64
	stalls     uint64
	connected  bool // a connection was established at least once
	lastErr    error

	// inflightSince is when the request in flight was sent (UnixNano), 0
	// when none is; the watchdog reads it.
	inflightSince atomic.Int64
	// watchdog fires RequestTimeout after a request was sent, and is armed
	// only while one is in flight: an idle shim has no timer to wake it.
	watchdog     *time.Timer
	watchdogRuns atomic.Uint64 // times it fired, stall or not

	// Owned by the sender goroutine.
	conn     transport
	backoff  time.Duration
	failures int // in the current streak
}

var _ events.Publisher = (*Publisher)(nil)

// New validates cfg and starts the sender. It does not connect: the first
// event does, so a shim that never publishes never dials.
func New(cfg Config) (*Publisher, error) {
	mode, err := ParseMode(string(cfg.Mode))
	if err != nil {
		return nil, err
	}
	cfg.Mode = mode
	if cfg.Address == "" && mode != ModeExec {
		return nil, errors.New("publisher: containerd address is empty")
	}
	if mode == ModeExec && cfg.Fallback == nil {
		return nil, errors.New("publisher: mode exec needs a fork fallback")
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if cfg.RequestTimeout <= 0 {
		cfg.RequestTimeout = DefaultRequestTimeout
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	kind := mode
	if mode == ModeAuto {
		kind = ModeTTRPC
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &Publisher{
		cfg:     cfg,
		queue:   newQueue(cfg.QueueSize),
		stop:    make(chan struct{}),
		stopped: make(chan struct{}),
		runCtx:  ctx,
		cancel:  cancel,
		kind:    kind,
	}
	p.watchdog = time.AfterFunc(time.Hour, p.reportStall)
	p.watchdog.Stop()
	go p.run()
	return p, nil
}

// Publish enqueues an event for delivery and returns without waiting for
// the network. The namespace comes from ctx. When the queue is full it waits
// for room until ctx ends, then fails: an event is never dropped silently.
func (p *Publisher) Publish(ctx context.Context, topic string, event events.Event) error {
	now := time.Now().UTC()
	ns, err := namespaces.NamespaceRequired(ctx)
	if err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	if err := p.validate(ns, topic); err != nil {
		return err
	}
	if event == nil {
		return fmt.Errorf("publish %s: nil event", topic)
	}
	encoded, err := typeurl.MarshalAny(event)
	if err != nil {
		return fmt.Errorf("publish %s: marshal event: %w", topic, err)
	}
	if err := p.queue.push(ctx, &envelope{timestamp: now, namespace: ns, topic: topic, event: encoded}); err != nil {
		err = fmt.Errorf("publish %s: %w", topic, err)
		log.G(ctx).WithError(err).Error("event not published")
		return err
	}
	return nil
}

// validate refuses what containerd would reject, so that a poison event
// cannot block the queue forever. A shim publishes few distinct namespace
// and topic pairs; the regular-expression checks run once for each.
func (p *Publisher) validate(ns, topic string) error {
	key := ns + "\x00" + topic
	if _, ok := p.validated.Load(key); ok {
		return nil
	}
	if err := identifiers.Validate(ns); err != nil {
		return fmt.Errorf("publish %s: invalid namespace: %w", topic, err)
	}
	if err := validateTopic(topic); err != nil {
		return fmt.Errorf("publish: invalid topic %q: %w", topic, err)
	}
	p.validated.Store(key, struct{}{})
	return nil
}

func validateTopic(topic string) error {
	if len(topic) < 2 || topic[0] != '/' {
		return errors.New("must start with '/' and have at least one component")
	}
	for _, c := range strings.Split(topic[1:], "/") {
		if err := identifiers.Validate(c); err != nil {
			return err
		}
	}
	return nil
}

// Flush returns once every event published before the call has been
// acknowledged by the daemon. When ctx ends first, the error says how many
// are still pending.
func (p *Publisher) Flush(ctx context.Context) error {
	return p.queue.flush(ctx)
}

// Close refuses new events, flushes until ctx ends, then stops the sender
// and closes the connection. Events still pending are reported in the error.
func (p *Publisher) Close(ctx context.Context) error {
	p.closeOnce.Do(func() {
		p.queue.close()
		p.closeErr = p.Flush(ctx)
		close(p.stop)
		p.cancel()
		<-p.stopped
		if p.conn != nil {
			p.conn.close()
		}
		entry := p.statsEntry()
		if p.closeErr != nil {
			entry.WithError(p.closeErr).Error("publisher closed with events undelivered")
		} else {
			entry.Info("publisher closed")
		}
	})
	return p.closeErr
}

// Stats returns the current counters.
func (p *Publisher) Stats() Stats {
	enqueued, delivered, dropped, depth := p.queue.counts()
	p.mu.Lock()
	defer p.mu.Unlock()
	s := Stats{
		Published:  enqueued,
		Delivered:  delivered,
		Retries:    p.retries,
		Reconnects: p.reconnects,
		Stalls:     p.stalls,
		Dropped:    dropped,
		Transport:  string(p.kind),
		QueueDepth: depth,
	}
	if p.lastErr != nil {
		s.LastError = p.lastErr.Error()
	}
	return s
}

func (p *Publisher) statsEntry() *log.Entry {
	s := p.Stats()
	return log.L.WithFields(log.Fields{
		"transport":  s.Transport,
		"published":  s.Published,
		"delivered":  s.Delivered,
		"retries":    s.Retries,
		"reconnects": s.Reconnects,
		"stalls":     s.Stalls,
		"dropped":    s.Dropped,
		"queued":     s.QueueDepth,
		"last_error": s.LastError,
	})
}

// maxRejections is how many times an event the daemon rejects is sent
// before it is dropped. Retrying a permanent rejection cannot succeed, but a
// few tries (about 70 ms of backoff) cover a daemon that misjudged one
// request, and a bound is what keeps the events behind it moving.
const maxRejections = 4

// outcome is what became of the event at the head of the queue.
type outcome int

const (
	delivered outcome = iota // the daemon acknowledged it
	dropped                  // the daemon rejected it maxRejections times
	stopping                 // the publisher is closing; it stays queued
)

// run is the sender: one envelope at a time, in queue order.
func (p *Publisher) run() {
	defer close(p.stopped)
	for {
		env := p.queue.head(p.stop)
		if env == nil {
			return
		}
		switch p.deliver(env) {
		case delivered:
			p.queue.ack()
		case dropped:
			p.queue.drop()
		case stopping:
			return
		}
	}
}

// deliver sends env until the daemon acknowledges it or has rejected it
// maxRejections times, or the publisher stops.
func (p *Publisher) deliver(env *envelope) outcome {
	rejections := 0
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			p.mu.Lock()
			p.retries++
			p.mu.Unlock()
			if !p.sleepBackoff() {
				return stopping
			}
		}
		if p.conn == nil {
			conn, err := p.connect()
			if err != nil {
				p.fail(err)
				continue
			}
			p.conn = conn
		}
		// No deadline: a request the daemon holds is awaited, never
		// abandoned and re-sent, as the daemon would handle the old copy
		// too, late and out of order. Only a broken connection (the daemon
		// went away) makes the event's fate unknown; the watchdog reports a
		// daemon that takes longer than RequestTimeout.
		p.inflightSince.Store(time.Now().UnixNano())
		p.watchdog.Reset(p.cfg.RequestTimeout)
		err := p.conn.forward(p.runCtx, env)
		p.watchdog.Stop()
		p.inflightSince.Store(0)
		if err == nil {
			if p.failures > 0 {
				log.L.WithField("transport", p.transport()).WithField("failures", p.failures).Info("event delivery resumed")
			}
			p.backoff, p.failures = 0, 0
			return delivered
		}
		if p.runCtx.Err() != nil {
			return stopping
		}
		if isUnimplemented(err) && p.downgrade(err) {
			attempt = -1 // a new transport is not a retry
			continue
		}
		err = fmt.Errorf("%s forward %s: %w", p.transport(), env.topic, err)
		if isRejection(err) {
			// The daemon answered: the connection is sound, keep it.
			if rejections++; rejections >= maxRejections {
				p.drop(env, err, rejections)
				return dropped
			}
			p.fail(err)
			continue
		}
		p.fail(err)
		p.disconnect()
	}
}

// drop logs an event the daemon rejected for good, with what identifies it.
// Decoding the payload for its container id happens only here, off the
// delivery path.
func (p *Publisher) drop(env *envelope, err error, tries int) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	p.backoff, p.failures = 0, 0
	log.L.WithError(err).WithFields(log.Fields{
		"transport":    p.transport(),
		"namespace":    env.namespace,
		"topic":        env.topic,
		"container_id": containerID(env),
		"tries":        tries,
	}).Error("containerd rejected an event; dropped it so that the events behind it are delivered")
}

// containerID is the event's container_id field, as containerd's event
// filters read it (every task event has one), or "" when it has none.
func containerID(env *envelope) string {
	v, err := typeurl.UnmarshalAny(env.event)
	if err != nil {
		return ""
	}
	f, ok := v.(interface {
		Field(fieldpath []string) (string, bool)
	})
	if !ok {
		return ""
	}
	id, _ := f.Field([]string{"container_id"})
	return id
}

// reportStall runs when a request has been in flight for RequestTimeout: a
// hung or overloaded containerd. The timer is not re-armed, so a request is
// reported once however long it is held.
func (p *Publisher) reportStall() {
	p.watchdogRuns.Add(1)
	// A timer that fired as its request was answered may run late, during
	// the next request: report only a request held that long.
	since := p.inflightSince.Load()
	if since == 0 || time.Since(time.Unix(0, since)) < p.cfg.RequestTimeout {
		return
	}
	err := fmt.Errorf("containerd has not answered an event for %v; waiting for its answer (re-sending could duplicate and reorder it)", p.cfg.RequestTimeout)
	p.mu.Lock()
	p.lastErr = err
	p.stalls++
	p.mu.Unlock()
	log.L.WithError(err).WithField("transport", p.transport()).Warn("containerd is slow to take events")
}

func (p *Publisher) transport() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.kind
}

// connect dials the current transport. In auto mode a missing or refusing
// ttrpc socket while the gRPC socket answers means the daemon serves no
// ttrpc: move to gRPC. Both absent is an outage: keep the transport.
func (p *Publisher) connect() (transport, error) {
	ctx, cancel := context.WithTimeout(p.runCtx, p.cfg.RequestTimeout)
	defer cancel()
	var (
		conn transport
		err  error
	)
	switch kind := p.transport(); kind {
	case ModeTTRPC:
		conn, err = dialTTRPC(ctx, p.cfg.Address+".ttrpc")
		if err != nil && p.cfg.Mode == ModeAuto && isAbsent(err) {
			if g, gerr := dialGRPC(ctx, p.cfg.Address); gerr == nil {
				p.switchTo(ModeGRPC, fmt.Sprintf("no ttrpc listener (%v) while gRPC answers", err))
				conn, err = g, nil
			}
		}
	case ModeGRPC:
		conn, err = dialGRPC(ctx, p.cfg.Address)
	case ModeExec:
		conn = execTransport{fallback: p.cfg.Fallback}
	}
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	first := !p.connected
	if !first {
		p.reconnects++
	}
	p.connected = true
	kind := p.kind
	p.mu.Unlock()
	entry := log.L.WithField("transport", kind).WithField("address", p.cfg.Address)
	if first {
		entry.Info("publisher connected")
	} else {
		entry.Debug("publisher reconnected")
		p.statsEntry().Debug("publisher stats")
	}
	return conn, nil
}

// downgrade moves auto mode one step down after an Unimplemented answer.
func (p *Publisher) downgrade(err error) bool {
	if p.cfg.Mode != ModeAuto {
		return false
	}
	switch p.transport() {
	case ModeTTRPC:
		p.switchTo(ModeGRPC, fmt.Sprintf("ttrpc events service unimplemented: %v", err))
	case ModeGRPC:
		if p.cfg.Fallback == nil {
			return false
		}
		p.switchTo(ModeExec, fmt.Sprintf("gRPC events service unimplemented: %v", err))
	default:
		return false
	}
	p.disconnect()
	return true
}

func (p *Publisher) switchTo(kind Mode, why string) {
	p.mu.Lock()
	from := p.kind
	p.kind = kind
	p.mu.Unlock()
	log.L.WithFields(log.Fields{"from": from, "transport": kind, "reason": why}).Warn("publisher changed transport")
}

func (p *Publisher) disconnect() {
	if p.conn != nil {
		p.conn.close()
		p.conn = nil
	}
}

// fail records a delivery error. The first of a streak is a warning (an
// outage an operator should see); the retries after it are debug noise.
func (p *Publisher) fail(err error) {
	p.mu.Lock()
	p.lastErr = err
	p.mu.Unlock()
	p.failures++
	entry := log.L.WithError(err).WithField("transport", p.transport())
	if p.failures == 1 {
		entry.Warn("event delivery failed; retrying until containerd takes it")
	} else {
		entry.Debug("event delivery failed again; retrying")
	}
}

// sleepBackoff waits a capped, jittered exponential delay; false when the
// publisher is stopping.
func (p *Publisher) sleepBackoff() bool {
	if p.backoff == 0 {
		p.backoff = initialBackoff
	} else if p.backoff *= 2; p.backoff > p.cfg.MaxBackoff {
		p.backoff = p.cfg.MaxBackoff
	}
	// ±25% jitter keeps many shims from reconnecting in lockstep after a
	// daemon restart.
	d := p.backoff*3/4 + time.Duration(rand.Int64N(int64(p.backoff/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-p.stop:
		return false
	}
}
