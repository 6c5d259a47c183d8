package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
)

// Workload names, also the keys of the JSON output.
const (
	workloadSequential = "sequential" // one event at a time, each after the previous one was acknowledged
	workloadStream     = "stream"     // events back to back, ordered
	workloadChurn      = "churn"      // containers at a set rate, each its own client
)

var allWorkloads = []string{workloadSequential, workloadStream, workloadChurn}

// churnConfig shapes the churn workload: each container is one shim with its
// own client, publishing its exec-probe exits and then its init exit.
type churnConfig struct {
	rate          float64       // containers started per second
	probes        int           // exec-probe exits before the init exit
	probeInterval time.Duration // between a container's exits
	interval      time.Duration // between container starts, from rate
}

// sample accumulates what one (workload, path) pair measured over all rounds.
type sample struct {
	published  int
	received   int
	lost       int // handed to the path but never seen by the subscriber
	unsent     int // never handed to the path: its publish (or client) failed
	outOfOrder int
	duplicates int
	errors     int
	firstError string
	latencies  []time.Duration
	acks       []time.Duration // sequential only: publish call to the daemon's acknowledgement
	busy       time.Duration   // from the first publish to the last arrival, summed over rounds
	cpu        cpuDelta
	phases     int
}

func (s *sample) fail(err error) {
	s.errors++
	if s.firstError == "" {
		s.firstError = err.Error()
	}
}

// runner drives the workloads and owns the event sequence numbers.
type runner struct {
	target   target
	sub      *subscriberProcess
	meter    cpuMeter
	idle     time.Duration // once all is published, missing events are lost after this long without an arrival
	churnCfg churnConfig
	progress *progress

	nextSeq atomic.Uint64
	samples map[string]map[string]*sample // workload -> path -> sample
}

func (r *runner) sampleFor(workload, path string) *sample {
	if r.samples == nil {
		r.samples = map[string]map[string]*sample{}
	}
	if r.samples[workload] == nil {
		r.samples[workload] = map[string]*sample{}
	}
	s := r.samples[workload][path]
	if s == nil {
		s = &sample{}
		r.samples[workload][path] = s
	}
	return s
}

func exitEvent(seq uint64, execID string) *eventstypes.TaskExit {
	id := fmt.Sprintf("%s%d", idPrefix, seq)
	if execID == "" {
		execID = id
	}
	return &eventstypes.TaskExit{
		ContainerID: id,
		ID:          execID,
		Pid:         uint32(1000 + seq%30000),
		ExitStatus:  0,
		ExitedAt:    time.Now().UTC(),
	}
}

// errSubscriberGone ends the run: nothing can be measured without it.
var errSubscriberGone = errors.New("subscriber gone")

// await waits up to timeout for seq, skipping late or duplicate arrivals of
// earlier events. It is for unmeasured events: it polls the subscriber
// often.
func (r *runner) await(seq uint64, timeout time.Duration) (arrival, error) {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	poll := time.NewTicker(5 * time.Millisecond)
	defer poll.Stop()
	r.sub.requestFlush()
	for {
		select {
		case a, ok := <-r.sub.arrivals:
			if !ok {
				return arrival{}, fmt.Errorf("%w: %v", errSubscriberGone, r.sub.failure())
			}
			if a.seq == seq {
				return a, nil
			}
		case <-poll.C:
			r.sub.requestFlush()
		case <-deadline.C:
			return arrival{}, fmt.Errorf("event %d did not reach the subscriber within %s", seq, timeout)
		}
	}
}

// warmUp publishes one unmeasured event and waits for it, so the connection
// is up and the binary paged in before measuring.
func (r *runner) warmUp(ctx context.Context, s sender) error {
	seq := r.nextSeq.Add(1)
	if err := s.publish(ctx, exitEvent(seq, "")); err != nil {
		return err
	}
	if err := s.flush(ctx); err != nil {
		return err
	}
	_, err := r.await(seq, r.idle)
	return err
}

// sequential measures single events: each is published once the daemon
// acknowledged the previous one (the fork and floor paths return then, the
// publisher paths Flush), as a shim's Delete waits for its TaskExit.
func (r *runner) sequential(ctx context.Context, path string, n int) error {
	return r.burst(ctx, workloadSequential, path, n, true)
}

// stream publishes n events back to back and waits for all of them;
// events/s is n over the time from the first publish to the last arrival.
func (r *runner) stream(ctx context.Context, path string, n int) error {
	return r.burst(ctx, workloadStream, path, n, false)
}

// burst publishes n events through one client, flushing after each event
// when ackEach is set, else once at the end.
func (r *runner) burst(ctx context.Context, workload, path string, n int, ackEach bool) error {
	s, err := openPath(path, r.target)
	if err != nil {
		return err
	}
	defer s.close(ctx)
	if err := r.warmUp(ctx, s); err != nil {
		return fmt.Errorf("%s: warm-up: %w", path, err)
	}
	smp := r.sampleFor(workload, path)
	base := r.nextSeq.Add(uint64(n)) - uint64(n) + 1
	published := make([]int64, n)
	c := r.collect(base, n)
	before := r.meter.read()
	start := monotonicNow()
	for i := 0; i < n; i++ {
		if err := ctx.Err(); err != nil {
			c.stop()
			return fmt.Errorf("interrupted: %w", err)
		}
		t0 := monotonicNow()
		smp.published++
		if err := s.publish(ctx, exitEvent(base+uint64(i), "")); err != nil {
			smp.fail(err)
			continue
		}
		published[i] = t0
		if ackEach {
			if err := s.flush(ctx); err != nil {
				smp.fail(fmt.Errorf("flush: %w", err))
				continue
			}
			smp.acks = append(smp.acks, time.Duration(monotonicNow()-t0))
		}
	}
	if !ackEach {
		if err := s.flush(ctx); err != nil {
			smp.fail(fmt.Errorf("flush: %w", err))
		}
	}
	err = c.finish(smp, published)
	after := r.meter.read()
	if err != nil {
		return err
	}
	if c.last > start {
		smp.busy += time.Duration(c.last - start)
	}
	smp.cpu.add(before, after, smp.phases == 0)
	smp.phases++
	// The events must arrive in publish order.
	var highest uint64
	for _, seq := range c.order {
		if seq < highest {
			smp.outOfOrder++
		} else {
			highest = seq
		}
	}
	return nil
}

// collector gathers the arrivals of seqs [base, base+n) in the background.
type collector struct {
	when   []int64  // arrival time by seq-base; 0 = not arrived
	order  []uint64 // seqs in arrival order
	dup    int
	last   int64
	err    error
	sent   chan struct{} // closed once everything was published
	done   chan struct{}
	cancel chan struct{}
}

// collect starts a collector. Until finish says all was published it only
// takes what the subscriber writes on its own (when its buffer fills), so
// the measured side pays nothing per event; then it asks the subscriber for
// the rest every 20 ms and gives up on what is still missing after r.idle
// without an arrival.
func (r *runner) collect(base uint64, n int) *collector {
	c := &collector{when: make([]int64, n),
		sent: make(chan struct{}), done: make(chan struct{}), cancel: make(chan struct{})}
	go func() {
		defer close(c.done)
		var (
			sent       = c.sent
			poll, idle <-chan time.Time
			idleTimer  *time.Timer
		)
		got := 0
		for got < n {
			select {
			case a, ok := <-r.sub.arrivals:
				if !ok {
					c.err = fmt.Errorf("%w: %v", errSubscriberGone, r.sub.failure())
					return
				}
				if a.seq < base || a.seq >= base+uint64(n) {
					continue // a straggler of an earlier phase
				}
				i := a.seq - base
				if c.when[i] != 0 {
					c.dup++
					continue
				}
				c.when[i] = a.when
				c.order = append(c.order, a.seq)
				c.last = max(c.last, a.when)
				got++
				r.progress.add(1)
				if idleTimer != nil {
					idleTimer.Reset(r.idle)
				}
			case <-sent:
				sent = nil
				r.sub.requestFlush()
				ticker := time.NewTicker(20 * time.Millisecond)
				defer ticker.Stop()
				idleTimer = time.NewTimer(r.idle)
				defer idleTimer.Stop()
				poll, idle = ticker.C, idleTimer.C
			case <-poll:
				r.sub.requestFlush()
			case <-idle:
				return // whatever is missing is lost
			case <-c.cancel:
				return
			}
		}
	}()
	return c
}

// stop ends the collector early (the run is interrupted).
func (c *collector) stop() {
	close(c.cancel)
	<-c.done
}

// finish waits for the collector and books its results.
func (c *collector) finish(smp *sample, published []int64) error {
	close(c.sent)
	<-c.done
	if c.err != nil {
		return c.err
	}
	smp.duplicates += c.dup
	for i, t0 := range published {
		if t0 == 0 {
			smp.unsent++
			continue
		}
		if c.when[i] == 0 {
			smp.lost++
			continue
		}
		smp.received++
		smp.latencies = append(smp.latencies, time.Duration(c.when[i]-t0))
	}
	return nil
}

// churn starts containers at a fixed rate, whether or not earlier ones are
// done (an open loop, as a cluster's exits are). Each container opens its
// own client, publishes its probe exits and its init exit in order,
// probeInterval apart, flushes and closes: a shim's whole publishing life,
// connection included.
func (r *runner) churn(ctx context.Context, path string, containers int) error {
	smp := r.sampleFor(workloadChurn, path)
	perContainer := r.churnCfg.probes + 1
	n := containers * perContainer
	base := r.nextSeq.Add(uint64(n)) - uint64(n) + 1
	published := make([]int64, n)
	c := r.collect(base, n)
	var (
		mu sync.Mutex // guards smp's error fields
		wg sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		smp.fail(err)
		mu.Unlock()
	}
	before := r.meter.read()
	start := monotonicNow()
	sleepUntil := func(t int64) {
		if wait := time.Duration(t - monotonicNow()); wait > 0 {
			time.Sleep(wait)
		}
	}
	for ci := 0; ci < containers; ci++ {
		born := start + int64(ci)*int64(r.churnCfg.interval)
		sleepUntil(born)
		wg.Add(1)
		go func(first int) {
			defer wg.Done()
			s, err := openPath(path, r.target)
			if err != nil {
				fail(err)
				return
			}
			defer s.close(ctx)
			for k := 0; k < perContainer; k++ {
				i := first + k
				execID := ""
				if k < r.churnCfg.probes {
					execID = fmt.Sprintf("probe-%d", k)
				}
				sleepUntil(born + int64(k)*int64(r.churnCfg.probeInterval))
				t0 := monotonicNow()
				if err := s.publish(ctx, exitEvent(base+uint64(i), execID)); err != nil {
					fail(err)
					return
				}
				published[i] = t0
			}
			if err := s.flush(ctx); err != nil {
				fail(fmt.Errorf("flush: %w", err))
			}
		}(ci * perContainer)
	}
	wg.Wait()
	smp.published += n
	err := c.finish(smp, published)
	after := r.meter.read()
	if err != nil {
		return err
	}
	if c.last > start {
		smp.busy += time.Duration(c.last - start)
	}
	smp.cpu.add(before, after, smp.phases == 0)
	smp.phases++
	// Each container's events must arrive in its own order.
	lastOf := make(map[int]uint64, containers)
	for _, seq := range c.order {
		ci := int(seq-base) / perContainer
		if prev, ok := lastOf[ci]; ok && seq < prev {
			smp.outOfOrder++
			continue
		}
		lastOf[ci] = seq
	}
	return nil
}
