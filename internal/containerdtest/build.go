package containerdtest

import (
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
		cmd := exec.Command("make", "-s", "build", "SHIM="+out)
		cmd.Dir = strings.TrimSpace(string(root))
		if b, err := cmd.CombinedOutput(); err != nil {
			buildErr = "make build: " + err.Error() + "\n" + string(b)
			return
		}
		shimPath = out
	})
	if buildErr != "" {
		t.Fatalf("building the shim: %s", buildErr)
	}
	return shimPath
}
