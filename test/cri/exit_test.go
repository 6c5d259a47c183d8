package cri_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// handlers are the runtime handlers every pod test runs on, side by side.
var handlers = []string{cri.Runsc, cri.Runc}

// forEachHandler runs test as a subtest per handler.
func forEachHandler(t *testing.T, test func(t *testing.T, n *cri.Node, handler string)) {
	n := requireNode(t)
	for _, h := range handlers {
		t.Run(h, func(t *testing.T) { test(t, n, h) })
	}
}

func timeout(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// runPod starts a pod removed when the test ends.
func runPod(t *testing.T, n *cri.Node, handler, name string) *cri.Pod {
	t.Helper()
	pod, err := n.RunPod(timeout(t, 2*time.Minute), handler, name)
	if err != nil {
		t.Fatalf("runp: %v", err)
	}
	t.Cleanup(func() {
		if err := pod.Remove(context.Background()); err != nil {
			t.Errorf("removing pod: %v", err)
		}
	})
	return pod
}

// logs returns `crictl logs` of a container: its stdout and stderr.
func logs(t *testing.T, n *cri.Node, id string) (stdout, stderr string) {
	t.Helper()
	out, errOut, err := n.CrictlOutput(timeout(t, time.Minute), "logs", id)
	if err != nil {
		t.Fatalf("crictl logs %s: %v: %s", id, err, errOut)
	}
	return string(out), string(errOut)
}

// A container that exits at once: CRI shows EXITED with its exit code, and
// its stdout and stderr are in its logs.
func TestExitCodeAndLogsOfShortContainer(t *testing.T) {
	forEachHandler(t, func(t *testing.T, n *cri.Node, handler string) {
		pod := runPod(t, n, handler, "exit")
		ctx := timeout(t, 2*time.Minute)
		id, err := pod.Run(ctx, cri.Container{Name: "exits", Command: []string{"sh", "-c", "echo to-stdout; echo to-stderr >&2; exit 3"}})
		if err != nil {
			t.Fatal(err)
		}
		st, err := n.WaitExited(timeout(t, 30*time.Second), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.ExitCode != 3 {
			t.Errorf("exit code %d, want 3", st.ExitCode)
		}
		stdout, stderr := logs(t, n, id)
		if !strings.Contains(stdout, "to-stdout") || !strings.Contains(stderr, "to-stderr") {
			t.Errorf("crictl logs: stdout %q, stderr %q; want to-stdout and to-stderr", stdout, stderr)
		}
	})
}
