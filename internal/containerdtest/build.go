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
	buildOnce sync.Once
	shimPath  string
	buildErr  string
)

// BuildShim builds ./cmd/gvisor-containerd-shim from this module once per
// test binary, through `make build` so that the flags are those of the
// binary that ships, and returns the path of the fresh binary.
func BuildShim(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
		if err != nil {
			buildErr = "go list -m: " + err.Error()
			return
		}
		dir, err := os.MkdirTemp("", "shimbin-")
		if err != nil {
			buildErr = err.Error()
			return
		}
		out := filepath.Join(dir, "gvisor-containerd-shim")
		if err := MakeShim(strings.TrimSpace(string(root)), out); err != nil {
			buildErr = err.Error()
			return
		}
		shimPath = out
	})
	if buildErr != "" {
		t.Fatalf("building the shim: %s", buildErr)
	}
	return shimPath
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
