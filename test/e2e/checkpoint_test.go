package e2e

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd"
	tasksapi "github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/images"
	"github.com/containerd/containerd/oci"

	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
)

// TestCheckpointRestore checkpoints a counting container through
// containerd (runsc checkpoint) and restores it into a new task (runsc
// restore): the count goes on where it stopped instead of starting over.
func TestCheckpointRestore(t *testing.T) {
	e := newEnv(t)
	ctx, done, err := e.client.WithLease(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer done(context.Background())
	c := e.container(t, "ckpt", oci.WithProcessArgs("/bin/sh", "-c", "i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done"))
	var before syncbuf.Buffer
	task, statusC := e.start(t, c, cio.NewCreator(cio.WithStreams(nil, &before, nil)))
	last := waitCount(t, &before, 5)

	resp, err := e.client.TaskService().Checkpoint(ctx, &tasksapi.CheckpointTaskRequest{ContainerID: c.ID()})
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	var image *types.Descriptor
	for _, d := range resp.Descriptors {
		if d.MediaType == images.MediaTypeContainerd1Checkpoint {
			image = d
		}
	}
	if image == nil {
		t.Fatalf("checkpoint returned no checkpoint image: %v", resp.Descriptors)
	}
	// runsc's checkpoint stops the container.
	waitExit(t, statusC)
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete: %v", err)
	}
	counted := waitCount(t, &before, last)

	var after syncbuf.Buffer
	restored, err := c.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &after, nil)), func(_ context.Context, _ *containerd.Client, ti *containerd.TaskInfo) error {
		ti.Checkpoint = image
		return nil
	})
	if err != nil {
		t.Fatalf("new task from checkpoint: %v", err)
	}
	restoredC, err := restored.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := restored.Start(ctx); err != nil {
		t.Fatalf("restore (start): %v", err)
	}
	waitCount(t, &after, 1)
	// The image holds the count at the checkpoint, which the container
	// had printed (counted) before it stopped.
	if first := firstLine(after.String()); first <= 1 || first > counted+1 {
		t.Fatalf("restored container counts from %d, want to go on from the checkpoint (at most %d)", first, counted+1)
	}
	if st, err := restored.Status(ctx); err != nil || st.Status != containerd.Running {
		t.Fatalf("restored status %v %v, want running", st.Status, err)
	}
	if err := restored.Kill(ctx, 9); err != nil {
		t.Fatalf("kill restored: %v", err)
	}
	waitExit(t, restoredC)
	if _, err := restored.Delete(ctx); err != nil {
		t.Fatalf("delete restored: %v", err)
	}
}

// waitCount waits until out's last complete line is a number >= min and
// returns it.
func waitCount(t *testing.T, out *syncbuf.Buffer, min int) int {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		lines := strings.Split(out.String(), "\n")
		if len(lines) >= 2 {
			if n, err := strconv.Atoi(lines[len(lines)-2]); err == nil && n >= min {
				return n
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("output %q never reached %d", out.String(), min)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func firstLine(s string) int {
	n, _ := strconv.Atoi(strings.SplitN(s, "\n", 2)[0])
	return n
}
