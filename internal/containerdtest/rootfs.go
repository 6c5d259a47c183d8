package containerdtest

import (
	"os"
	"path/filepath"
	"testing"
)

// BusyboxRootfs builds a minimal root filesystem from Debian's static
// busybox (package busybox-static) in a fresh directory and returns its path.
// Tests use it with oci.WithRootFSPath, so no image pull is needed.
func BusyboxRootfs(t testing.TB) string {
	t.Helper()
	RequireBinaries(t, "busybox")
	src := "/bin/busybox"
	bin, err := os.ReadFile(src)
	if err != nil {
		t.Fatalf("read %s: %v", src, err)
	}
	dir, err := os.MkdirTemp("", "rootfs-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	for _, d := range []string{"bin", "proc", "sys", "dev", "tmp", "etc"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), bin, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, applet := range []string{"sh", "echo", "sleep", "cat", "true", "false", "ls", "ps", "printf", "tty", "stty"} {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}
