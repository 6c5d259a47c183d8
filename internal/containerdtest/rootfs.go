package containerdtest

import (
	"os"
	"testing"

	"github.com/google/gvisor-containerd-shim/internal/rootfs"
)

// BusyboxRootfs builds a busybox root filesystem (see internal/rootfs) in a
// fresh directory, removed when the test ends, and returns its path. Tests
// use it with oci.WithRootFSPath, so no image pull is needed.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	RequireBinaries(t, "busybox")
	dir, err := os.MkdirTemp("", "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := rootfs.Busybox(dir); err != nil {
		t.Fatal(err)
	}
	return dir
}
