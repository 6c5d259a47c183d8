package e2e

import (
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
)

// lifecycle is what the subscriber saw of one task, from TaskCreate to
// TaskDelete.
type lifecycle struct {
	pids      map[uint32]bool // from TaskCreate (0 when restoring) and TaskStart
	exits     []*eventstypes.TaskExit
	execPids  map[string]uint32 // from TaskExecStarted
	execExits map[string][]*eventstypes.TaskExit
}

// checkInvariants checks every task event the subscriber saw: each task
// has one TaskExit for its init and one per started exec, each carrying the
// pid containerd announced for that process (TaskCreate/TaskStart,
// TaskExecStarted); the init's TaskExit arrives before the task's
// TaskDelete, which reports the same exit status.
//
// TaskStart and TaskExecStarted may come after the TaskExit of a process
// that exits at once: in the v1 runtime the daemon publishes them itself
// after the shim's Start returns, as it does with containerd's own v1 shim.
func (r *recorder) checkInvariants(t *testing.T) {
	t.Helper()
	events := r.settled()
	tasks := map[string]*lifecycle{}
	get := func(id string) *lifecycle {
		if tasks[id] == nil {
			tasks[id] = &lifecycle{pids: map[uint32]bool{}, execPids: map[string]uint32{}, execExits: map[string][]*eventstypes.TaskExit{}}
		}
		return tasks[id]
	}
	check := func(id string, l *lifecycle) {
		if len(l.exits) > 1 {
			t.Errorf("%s: %d TaskExit events for the init: %v", id, len(l.exits), l.exits)
		}
		for _, x := range l.exits {
			if !l.pids[x.Pid] || x.Pid == 0 {
				t.Errorf("%s: TaskExit has pid %d; containerd announced %v", id, x.Pid, l.pids)
			}
		}
		for exec, pid := range l.execPids {
			exits := l.execExits[exec]
			if len(exits) != 1 || exits[0].Pid != pid {
				t.Errorf("%s: exec %s started with pid %d, its TaskExit events: %v", id, exec, pid, exits)
			}
		}
		for exec := range l.execExits {
			if _, ok := l.execPids[exec]; !ok {
				t.Errorf("%s: TaskExit of exec %s that never started", id, exec)
			}
		}
	}
	for i, ev := range events {
		switch x := ev.(type) {
		case *eventstypes.TaskCreate:
			get(x.ContainerID).pids[x.Pid] = true
		case *eventstypes.TaskStart:
			get(x.ContainerID).pids[x.Pid] = true
		case *eventstypes.TaskExecStarted:
			get(x.ContainerID).execPids[x.ExecID] = x.Pid
		case *eventstypes.TaskExit:
			l := get(x.ContainerID)
			if x.ID == x.ContainerID {
				l.exits = append(l.exits, x)
			} else {
				l.execExits[x.ID] = append(l.execExits[x.ID], x)
			}
		case *eventstypes.TaskDelete:
			if x.ID != "" {
				continue // an exec's delete
			}
			l := get(x.ContainerID)
			if len(l.exits) == 0 {
				t.Errorf("event %d: TaskDelete of %s before (or without) its TaskExit", i, x.ContainerID)
			} else if x.ExitStatus != l.exits[0].ExitStatus {
				t.Errorf("event %d: TaskDelete of %s says status %d, TaskExit said %d", i, x.ContainerID, x.ExitStatus, l.exits[0].ExitStatus)
			}
			check(x.ContainerID, l)
			delete(tasks, x.ContainerID)
		}
	}
	for id, l := range tasks {
		check(id, l)
	}
	if t.Failed() {
		t.Logf("events: %v", events)
	}
	t.Logf("checked %d task events", len(events))
}

// settled returns the events once none has arrived for a while.
func (r *recorder) settled() []any {
	n := -1
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		events := r.snapshot()
		if len(events) == n {
			return events
		}
		n = len(events)
		time.Sleep(300 * time.Millisecond)
	}
	return r.snapshot()
}
