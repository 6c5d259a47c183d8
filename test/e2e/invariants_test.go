package e2e

import (
	"fmt"
	"testing"
	"time"

	eventstypes "github.com/containerd/containerd/api/events"
)

// checkInvariants checks every task event the subscriber saw: each
// TaskExit names the pid containerd knows for that process (the task's pid
// from TaskCreate/TaskStart, an exec's from TaskExecStarted) and is the
// only one for it, and a task's TaskExit arrives before its TaskDelete,
// which reports the same exit status.
func (r *recorder) checkInvariants(t *testing.T) {
	t.Helper()
	events := r.settled()
	type task struct {
		pid      uint32
		exited   bool
		status   uint32
		execPids map[string]uint32
		execExit map[string]bool
	}
	tasks := map[string]*task{}
	get := func(id string) *task {
		if tasks[id] == nil {
			tasks[id] = &task{execPids: map[string]uint32{}, execExit: map[string]bool{}}
		}
		return tasks[id]
	}
	for i, ev := range events {
		where := fmt.Sprintf("event %d (%T)", i, ev)
		switch x := ev.(type) {
		case *eventstypes.TaskCreate:
			tasks[x.ContainerID] = nil
			get(x.ContainerID).pid = x.Pid
		case *eventstypes.TaskStart:
			get(x.ContainerID).pid = x.Pid
		case *eventstypes.TaskExecStarted:
			get(x.ContainerID).execPids[x.ExecID] = x.Pid
		case *eventstypes.TaskExit:
			tk := get(x.ContainerID)
			if x.ID == x.ContainerID {
				if tk.exited {
					t.Errorf("%s: second TaskExit of %s", where, x.ContainerID)
				}
				if x.Pid != tk.pid || x.Pid == 0 {
					t.Errorf("%s: TaskExit of %s has pid %d, containerd knows %d", where, x.ContainerID, x.Pid, tk.pid)
				}
				tk.exited, tk.status = true, x.ExitStatus
				continue
			}
			if tk.execExit[x.ID] {
				t.Errorf("%s: second TaskExit of exec %s", where, x.ID)
			}
			if pid, ok := tk.execPids[x.ID]; !ok || pid != x.Pid {
				t.Errorf("%s: TaskExit of exec %s/%s has pid %d, TaskExecStarted said %d", where, x.ContainerID, x.ID, x.Pid, pid)
			}
			tk.execExit[x.ID] = true
		case *eventstypes.TaskDelete:
			if x.ID != "" {
				continue // an exec's delete
			}
			tk := get(x.ContainerID)
			if !tk.exited {
				t.Errorf("%s: TaskDelete of %s before (or without) its TaskExit", where, x.ContainerID)
			} else if x.ExitStatus != tk.status {
				t.Errorf("%s: TaskDelete of %s says status %d, TaskExit said %d", where, x.ContainerID, x.ExitStatus, tk.status)
			}
			tasks[x.ContainerID] = nil
		}
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
