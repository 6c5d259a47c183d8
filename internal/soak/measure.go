package soak

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/google/gvisor-containerd-shim/internal/procmem"
)

// procFigures are what /proc says of a process.
type procFigures struct {
	fds, threads, ussKiB int
	// anonKiB is the part of USS not backed by a file (procmem.Usage).
	anonKiB int
}

// readProc counts a process's open fds and reads its threads and USS
// (Private_Clean + Private_Dirty of its mappings: what killing it frees).
func readProc(pid int) (procFigures, error) {
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return procFigures{}, err
	}
	u, err := procmem.Read(pid)
	if err != nil {
		return procFigures{}, err
	}
	return procFigures{fds: len(fds), threads: u.Threads, ussKiB: u.USS, anonKiB: u.AnonUSS}, nil
}

// countFiles counts every entry that is not a directory under root,
// without crossing into other filesystems (a container's rootfs, a pod's
// shm), and, for each name in ids, those with a path component equal to
// it (containerd names a container's directories after its id). A missing
// root counts nothing.
func countFiles(root string, ids []string) (total int, byID map[string]int, err error) {
	byID = map[string]int{}
	var st unix.Stat_t
	if err := unix.Lstat(root, &st); err != nil {
		if os.IsNotExist(err) {
			return 0, byID, nil
		}
		return 0, nil, err
	}
	dev := st.Dev
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil // removed while walking
			}
			return err
		}
		if d.IsDir() {
			var st unix.Stat_t
			if unix.Lstat(path, &st) == nil && st.Dev != dev {
				return filepath.SkipDir
			}
			return nil
		}
		total++
		parts := strings.Split(path, string(filepath.Separator))
		for _, id := range ids {
			for _, p := range parts {
				if p == id {
					byID[id]++
					break
				}
			}
		}
		return nil
	})
	return total, byID, err
}

// fileSize is a file's size; -1 when it does not exist.
func fileSize(path string) int64 {
	st, err := os.Stat(path)
	if err != nil {
		return -1
	}
	return st.Size()
}

var (
	dumpEnd        = []byte("=== END goroutine stack dump ===")
	dumpBegin      = []byte("=== BEGIN goroutine stack dump ===")
	goroutineStart = regexp.MustCompile(`goroutine \d+ \[`)
)

// countGoroutines sends a shim SIGUSR1, on which both shims (ours in
// shim/cli, containerd-shim in its main) log a dump of every goroutine's
// stack; with shim_debug, containerd copies a shim's stderr into its own
// log. It counts the goroutines of the first dump the log gains after the
// signal. Shims are signalled one at a time, so the dump is this one's.
func countGoroutines(ctx context.Context, pid int, daemonLog string) (int, error) {
	offset := fileSize(daemonLog)
	if offset < 0 {
		return 0, fmt.Errorf("containerd's log %s: missing", daemonLog)
	}
	if err := unix.Kill(pid, unix.SIGUSR1); err != nil {
		return 0, fmt.Errorf("SIGUSR1 to shim %d: %w", pid, err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if b, err := readFrom(daemonLog, offset); err == nil {
			if i := bytes.Index(b, dumpBegin); i >= 0 {
				if j := bytes.Index(b[i:], dumpEnd); j >= 0 {
					return len(goroutineStart.FindAll(b[i:i+j], -1)), nil
				}
			}
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("shim %d: no goroutine dump in containerd's log 10s after SIGUSR1 (is shim_debug on?)", pid)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func readFrom(path string, offset int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f)
}
