// Package rootfs builds the minimal root filesystem the tests and the demo
// run containers in: Debian's static busybox (package busybox-static), so
// no image has to be pulled.
package rootfs

import (
	"fmt"
	"os"
	"path/filepath"
)

// BusyboxPath is where Debian's busybox-static installs the binary.
const BusyboxPath = "/bin/busybox"

var (
	// Every mount point of containerd's default spec exists (run too): runsc
	// creates a missing one in the shared rootfs, and two sandboxes doing so
	// at once race (the loser's mkdir gets EEXIST, its mount ENOENT).
	dirs    = []string{"bin", "proc", "sys", "dev", "run", "tmp", "etc"}
	applets = []string{"sh", "echo", "sleep", "cat", "true", "false", "ls", "ps", "printf", "tty", "stty", "uname"}
)

// Busybox populates dir (created if missing) with a busybox root
// filesystem: /bin/busybox, its common applets as symlinks, and the usual
// mount points.
func Busybox(dir string) error {
	bin, err := os.ReadFile(BusyboxPath)
	if err != nil {
		return fmt.Errorf("busybox rootfs (install busybox-static): %w", err)
	}
	for _, d := range dirs {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "bin", "busybox"), bin, 0o755); err != nil {
		return err
	}
	for _, applet := range applets {
		if err := os.Symlink("busybox", filepath.Join(dir, "bin", applet)); err != nil {
			return err
		}
	}
	return nil
}
