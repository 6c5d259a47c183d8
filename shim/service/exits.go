package service

import (
	"sync"
	"time"

	runc "github.com/containerd/go-runc"

	"github.com/google/gvisor-containerd-shim/shim/proc"
)

// earlyExitTTL is how long an exit of a pid nobody registered yet is kept:
// an exec can exit (and be reaped) before its Start reads runsc's pid file.
const earlyExitTTL = time.Minute

// reapedProcess is a process whose exit is the exit of a child of the
// shim: ExitPid is that child's host pid.
type reapedProcess interface {
	proc.Process
	ExitPid() int
}

// exitTracker matches the reaper's exits to the processes they end: the
// sandbox's pid for the init, the `runsc exec` waiter's pid for an exec.
// It hands them, in order, to onExit on a goroutine of its own: the
// reaper's goroutine never waits for onExit (which records the exit and
// publishes it), and containerd's reaper gives each subscriber up to a
// second per exit before it moves on to the next, runsc's own commands'
// exits included.
type exitTracker struct {
	mu      sync.Mutex
	watched map[int]proc.Process
	early   map[int]runc.Exit
	matched []matchedExit // for onExit, in order
	wake    chan struct{}
	onExit  func(proc.Process, runc.Exit)
}

type matchedExit struct {
	p proc.Process
	e runc.Exit
}

func newExitTracker(onExit func(proc.Process, runc.Exit)) *exitTracker {
	t := &exitTracker{
		watched: make(map[int]proc.Process),
		early:   make(map[int]runc.Exit),
		wake:    make(chan struct{}, 1),
		onExit:  onExit,
	}
	go t.deliver()
	return t
}

// deliver hands matched exits to onExit, for the service's life.
func (t *exitTracker) deliver() {
	for range t.wake {
		t.mu.Lock()
		matched := t.matched
		t.matched = nil
		t.mu.Unlock()
		for _, m := range matched {
			t.onExit(m.p, m.e)
		}
	}
}

// matchedLocked queues p's exit for onExit; the caller holds mu.
func (t *exitTracker) matchedLocked(p proc.Process, e runc.Exit) {
	t.matched = append(t.matched, matchedExit{p, e})
	select {
	case t.wake <- struct{}{}:
	default: // already woken: deliver takes everything queued
	}
}

// watch reports p's exit to onExit, also when it already happened after
// since (when the command that made p started: an earlier exit of the same
// pid belongs to a process that had that pid before).
func (t *exitTracker) watch(p reapedProcess, since time.Time) {
	pid := p.ExitPid()
	t.mu.Lock()
	e, exited := t.early[pid]
	exited = exited && !e.Timestamp.Before(since)
	if exited {
		delete(t.early, pid)
		t.matchedLocked(p, e)
	} else {
		t.watched[pid] = p
	}
	t.mu.Unlock()
}

// exited handles one exit from the reaper; it never waits for onExit.
func (t *exitTracker) exited(e runc.Exit) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if p, ok := t.watched[e.Pid]; ok {
		delete(t.watched, e.Pid)
		t.matchedLocked(p, e)
	} else {
		// Most unmatched exits are runsc's own commands and helpers.
		for pid, old := range t.early {
			if time.Since(old.Timestamp) > earlyExitTTL {
				delete(t.early, pid)
			}
		}
		t.early[e.Pid] = e
	}
}
