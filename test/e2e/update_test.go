package e2e

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/errdefs"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The v1 Update RPC on a plain container, a pod's sandbox and an app
// container of the pod, each running: with a runsc that has update, runsc's
// state holds the new memory limit of each; with one that has not, each
// gets NotImplemented saying so, and runsc's state is unchanged.
func TestUpdate(t *testing.T) {
	e := newEnv(t)
	has, err := containerdtest.RunscHasUpdate()
	if err != nil {
		t.Fatal(err)
	}
	plain := e.container(t, "update-plain", oci.WithProcessArgs("/bin/sleep", "1000"))
	plainTask, _ := e.start(t, plain, cio.NullIO)
	p := e.newPod(t, "update-pod")
	app := p.app(t, "update-app", []string{"/bin/sleep", "1000"})
	appTask, _ := e.start(t, app, cio.NullIO)
	root := filepath.Join(e.d.RuntimeRoot, namespace)
	for i, c := range []struct {
		name string
		id   string
		task containerd.Task
	}{
		{"plain", plain.ID(), plainTask},
		{"sandbox", p.sandbox.ID(), p.task},
		{"app", app.ID(), appTask},
	} {
		t.Run(c.name, func(t *testing.T) {
			limit := int64(64+i) << 20
			err := c.task.Update(e.ctx, containerd.WithResources(&specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}))
			spec, specErr := containerdtest.RunscSpec(root, c.id)
			if specErr != nil {
				t.Fatal(specErr)
			}
			got := containerdtest.MemoryLimit(spec)
			if !has {
				if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "has no update command") {
					t.Fatalf("update with a runsc without update: %v, want NotImplemented saying so", err)
				}
				if got == limit {
					t.Fatalf("runsc's state has the refused limit %d", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if got != limit {
				t.Fatalf("runsc's state of %s: memory limit %d, want %d", c.id, got, limit)
			}
		})
	}
}
