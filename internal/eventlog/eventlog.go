// Package eventlog records the task events a containerd subscriber
// receives (the demos print them, test/e2e checks them) and picks the
// shim's event transport out of the daemon's log, for the demos (make
// demo, make demo-pod) to show.
package eventlog

import (
	"context"
	"fmt"
	"regexp"
	"sync"
	"time"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/typeurl"
)

// Recorder keeps the task events in arrival order.
type Recorder struct {
	mu     sync.Mutex
	events []event
}

type event struct {
	topic string
	v     any
}

// Subscribe records the task events of client's namespace in ctx until
// ctx ends.
func (r *Recorder) Subscribe(ctx context.Context, client *containerd.Client) {
	ch, errs := client.Subscribe(ctx, `topic~="/tasks/"`)
	go func() {
		for {
			select {
			case env := <-ch:
				v, err := typeurl.UnmarshalAny(env.Event)
				if err != nil {
					continue
				}
				r.mu.Lock()
				r.events = append(r.events, event{env.Topic, v})
				r.mu.Unlock()
			case <-errs:
				return
			}
		}
	}()
}

// WaitFor waits up to timeout for an event of Go type typ
// ("*events.TaskDelete").
func (r *Recorder) WaitFor(ctx context.Context, typ string, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		r.mu.Lock()
		for _, e := range r.events {
			if fmt.Sprintf("%T", e.v) == typ {
				r.mu.Unlock()
				return
			}
		}
		r.mu.Unlock()
		time.Sleep(50 * time.Millisecond)
	}
}

// Events returns the events received so far, in order.
func (r *Recorder) Events() []any {
	r.mu.Lock()
	defer r.mu.Unlock()
	events := make([]any, len(r.events))
	for i, e := range r.events {
		events[i] = e.v
	}
	return events
}

// Lines describes the events received so far, one line each.
func (r *Recorder) Lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	lines := make([]string, len(r.events))
	for i, e := range r.events {
		lines[i] = describe(e.topic, e.v)
	}
	return lines
}

// describe is one line for an event: its topic, ids, pid and exit status.
func describe(topic string, v any) string {
	switch e := v.(type) {
	case *eventstypes.TaskExit:
		return fmt.Sprintf("%-16s container=%s id=%s pid=%d exit_status=%d  <- published by the shim", topic, e.ContainerID, e.ID, e.Pid, e.ExitStatus)
	case *eventstypes.TaskCreate:
		return fmt.Sprintf("%-16s container=%s pid=%d", topic, e.ContainerID, e.Pid)
	case *eventstypes.TaskStart:
		return fmt.Sprintf("%-16s container=%s pid=%d", topic, e.ContainerID, e.Pid)
	case *eventstypes.TaskDelete:
		return fmt.Sprintf("%-16s container=%s pid=%d exit_status=%d", topic, e.ContainerID, e.Pid, e.ExitStatus)
	default:
		return fmt.Sprintf("%-16s %T", topic, v)
	}
}

var transportRE = regexp.MustCompile(`msg="publisher (connected|changed transport)".*`)

// Transports picks the publisher's transport lines out of the daemon log
// (with shim_debug the shim's stderr goes there).
func Transports(log string) []string {
	found := transportRE.FindAllString(log, -1)
	if len(found) == 0 {
		return []string{"(no publisher line in the daemon log)"}
	}
	return found
}
