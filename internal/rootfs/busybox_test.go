package rootfs_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// The tests start many sandboxes at once on one rootfs. A mount point
// missing from it is created there by each sandbox's runsc, and concurrent
// creations make some starts fail ("failed to mount "/run" ... no such file
// or directory"), so every mount point of containerd's default spec that is
// not inside another of its mounts must already be a directory.
func TestBusyboxHasDefaultSpecMountPoints(t *testing.T) {
	dir := containerdtest.BusyboxRootfs(t)
	ctx := namespaces.WithNamespace(context.Background(), "rootfs-test")
	spec, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "rootfs-test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range spec.Mounts {
		if insideAnotherMount(m.Destination, spec.Mounts) {
			continue // made inside that mount by the sandbox, not in the rootfs
		}
		fi, err := os.Stat(filepath.Join(dir, m.Destination))
		if err != nil || !fi.IsDir() {
			t.Errorf("mount point %s (%s) is not a directory of the rootfs: %v", m.Destination, m.Type, err)
		}
	}
}

func insideAnotherMount(dest string, mounts []specs.Mount) bool {
	for _, m := range mounts {
		if m.Destination != dest && strings.HasPrefix(dest, strings.TrimSuffix(m.Destination, "/")+"/") {
			return true
		}
	}
	return false
}
