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
type exitTracker struct {
	mu      sync.Mutex
	watched map[int]proc.Process
	early   map[int]runc.Exit
	onExit  func(proc.Process, runc.Exit)
}

func newExitTracker(onExit func(proc.Process, runc.Exit)) *exitTracker {
	return &exitTracker{
		watched: make(map[int]proc.Process),
		early:   make(map[int]runc.Exit),
		onExit:  onExit,
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
	} else {
		t.watched[pid] = p
	}
	t.mu.Unlock()
	if exited {
		// The caller may hold locks onExit needs.
		go t.onExit(p, e)
	}
}

// exited handles one exit from the reaper.
func (t *exitTracker) exited(e runc.Exit) {
	t.mu.Lock()
	p, ok := t.watched[e.Pid]
	if ok {
		delete(t.watched, e.Pid)
	} else {
		// Most unmatched exits are runsc's own commands and helpers.
		for pid, old := range t.early {
			if time.Since(old.Timestamp) > earlyExitTTL {
				delete(t.early, pid)
			}
		}
		t.early[e.Pid] = e
	}
	t.mu.Unlock()
	if ok {
		t.onExit(p, e)
	}
}
