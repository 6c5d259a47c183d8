package cri_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/cri"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// crictl update (CRI's UpdateContainerResources, which Kubernetes' in-place
// pod resize uses) on a running app container of a runsc pod: with a runsc
// that has update it returns 0, the new limit shows in crictl inspect and
// runsc's own state holds it; with one that has not, it fails with the
// shim's one-line NotImplemented and the limit is unchanged.
func TestUpdateContainerResources(t *testing.T) {
	n := requireNode(t)
	pod := runPod(t, n, cri.Runsc, "update")
	ctx := timeout(t, 2*time.Minute)
	id, err := pod.Run(ctx, cri.Container{Name: "sleeper", Command: []string{"sleep", "3600"}})
	if err != nil {
		t.Fatal(err)
	}
	const limit = 256 << 20
	has, err := containerdtest.RunscHasUpdate()
	if err != nil {
		t.Fatal(err)
	}
	_, stderr, err := n.CrictlOutput(ctx, "update", "--memory", fmt.Sprint(limit), id)
	got := inspectMemoryLimit(t, n, id)
	if !has {
		if err == nil || !strings.Contains(string(stderr), "has no update command") || !strings.Contains(string(stderr), "not implemented") {
			t.Fatalf("crictl update with a runsc without update: %v: %s; want the shim's NotImplemented", err, stderr)
		}
		if got == limit {
			t.Fatalf("crictl inspect shows the refused limit %d", got)
		}
		t.Logf("crictl update with a runsc without update: %s", stderr)
		return
	}
	if err != nil {
		t.Fatalf("crictl update: %v: %s", err, stderr)
	}
	if got != limit {
		t.Fatalf("crictl inspect: memory limit %d, want %d", got, limit)
	}
	spec, err := containerdtest.RunscSpec(filepath.Join(n.RuntimeRoot(cri.Runsc), cri.Namespace), id)
	if err != nil {
		t.Fatal(err)
	}
	if got := containerdtest.MemoryLimit(spec); got != limit {
		t.Fatalf("runsc's state of %s: memory limit %d, want %d", id, got, limit)
	}
}

// inspectMemoryLimit is the memory limit of the container's spec as crictl
// inspect shows it (0 for none).
func inspectMemoryLimit(t *testing.T, n *cri.Node, id string) int64 {
	t.Helper()
	var v struct {
		Info struct {
			RuntimeSpec *specs.Spec `json:"runtimeSpec"`
		} `json:"info"`
	}
	if err := n.CrictlJSON(timeout(t, time.Minute), &v, "inspect", id); err != nil {
		t.Fatalf("crictl inspect %s: %v", id, err)
	}
	return containerdtest.MemoryLimit(v.Info.RuntimeSpec)
}
