package publisher

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/gogo/protobuf/types"
)

// envelope is one event as it will be forwarded. Its timestamp is taken when
// Publish is called, so a late delivery still says when the event happened.
type envelope struct {
	timestamp time.Time
	namespace string
	topic     string
	event     *types.Any
}

// queue is a bounded FIFO of envelopes. The head stays in the queue until it
// is acknowledged, so a failed send is retried before anything behind it.
type queue struct {
	mu        sync.Mutex
	items     []*envelope
	capacity  int
	enqueued  uint64 // total ever accepted
	delivered uint64 // total ever acknowledged
	dropped   uint64 // total ever dropped after the daemon rejected them
	closed    bool
	// changed is closed and replaced on every change, waking all waiters.
	changed chan struct{}
}

var errClosed = fmt.Errorf("publisher is closed")

func newQueue(capacity int) *queue {
	return &queue{capacity: capacity, changed: make(chan struct{})}
}

// broadcast wakes every waiter; the caller holds mu.
func (q *queue) broadcast() {
	close(q.changed)
	q.changed = make(chan struct{})
}

// push appends env, waiting for room until ctx ends.
func (q *queue) push(ctx context.Context, env *envelope) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) >= q.capacity && !q.closed {
		wait := q.changed
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			q.mu.Lock()
			return fmt.Errorf("event queue full (%d events waiting for containerd): %w", len(q.items), ctx.Err())
		}
		q.mu.Lock()
	}
	if q.closed {
		return errClosed
	}
	q.items = append(q.items, env)
	q.enqueued++
	q.broadcast()
	return nil
}

// head returns the oldest unacknowledged envelope, waiting for one until
// stop is closed (then it returns nil).
func (q *queue) head(stop <-chan struct{}) *envelope {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 {
		wait := q.changed
		q.mu.Unlock()
		select {
		case <-wait:
		case <-stop:
			q.mu.Lock()
			return nil
		}
		q.mu.Lock()
	}
	return q.items[0]
}

// ack removes the head after the daemon acknowledged it.
func (q *queue) ack() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pop()
	q.delivered++
	q.broadcast()
}

// drop removes the head after the daemon rejected it for good.
func (q *queue) drop() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.pop()
	q.dropped++
	q.broadcast()
}

// pop removes the head; the caller holds mu.
func (q *queue) pop() {
	q.items[0] = nil
	q.items = q.items[1:]
	if len(q.items) == 0 {
		q.items = nil // let the backing array go after a burst
	}
}

// flush waits until every envelope accepted before the call is acknowledged
// (or dropped after the daemon rejected it: nothing is left to wait for).
func (q *queue) flush(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	target := q.enqueued
	for q.delivered+q.dropped < target {
		wait := q.changed
		q.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			q.mu.Lock()
			return fmt.Errorf("flush: %d events still pending delivery to containerd: %w", target-q.delivered-q.dropped, ctx.Err())
		}
		q.mu.Lock()
	}
	return nil
}

// close makes further pushes fail; what is queued stays for the sender.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.broadcast()
}

func (q *queue) counts() (enqueued, delivered, dropped uint64, depth int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.enqueued, q.delivered, q.dropped, len(q.items)
}
