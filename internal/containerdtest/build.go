package containerdtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var (
	buildMu  sync.Mutex
	shimPath string
	buildErr error
)

// BuildShim builds ./cmd/gvisor-containerd-shim from this module once per
// test binary, through `make build` so that the flags are those of the
// binary that ships, and returns the path of the fresh binary. A package
// that uses it calls RemoveShim from its TestMain.
func BuildShim(t testing.TB) string {
	t.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if shimPath == "" && buildErr == nil {
		shimPath, buildErr = buildShim()
	}
	if buildErr != nil {
		t.Fatalf("building the shim: %v", buildErr)
	}
	return shimPath
}

func buildShim() (string, error) {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return "", fmt.Errorf("go list -m: %w", err)
	}
	dir, err := os.MkdirTemp("", "shimbin-")
	if err != nil {
		return "", err
	}
	out := filepath.Join(dir, "gvisor-containerd-shim")
	if err := MakeShim(strings.TrimSpace(string(root)), out); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return out, nil
}

// RemoveShim deletes what BuildShim built (13 MB a test binary, left in
// /tmp otherwise); a later BuildShim builds it again.
func RemoveShim() {
	buildMu.Lock()
	defer buildMu.Unlock()
	if shimPath != "" {
		os.RemoveAll(filepath.Dir(shimPath))
	}
	shimPath, buildErr = "", nil
}

// MakeShim builds the shim of the module at root into out with `make
// build`, so that the flags are those of the binary that ships.
func MakeShim(root, out string) error {
	cmd := exec.Command("make", "-s", "build", "SHIM="+out)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("make build: %v\n%s", err, b)
	}
	return nil
}
