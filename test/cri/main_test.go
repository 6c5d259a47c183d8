// Package cri_test runs pods through containerd's CRI plugin with the shim
// serving the runsc and runc handlers side by side (see internal/cri), and
// checks what a pod's user relies on, per handler.
package cri_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/cri"
)

var (
	node *cri.Node
	// shimPath is the shim the node runs, for tests that start a node of
	// their own.
	shimPath string
	// nodeErr is why there is no node: a skip outside CI, a failure in it.
	nodeErr error
)

func TestMain(m *testing.M) {
	code := func() int {
		if os.Geteuid() != 0 {
			nodeErr = fmt.Errorf("%w: CRI tests need root", cri.ErrMissing)
			return m.Run()
		}
		for _, bin := range []string{"containerd", "runsc", "runc", "containerd-shim", "busybox", "go"} {
			if _, err := exec.LookPath(bin); err != nil {
				nodeErr = fmt.Errorf("%w: %s not found on PATH (run `make setup`)", cri.ErrMissing, bin)
				return m.Run()
			}
		}
		shim, err := buildShim()
		if err != nil {
			nodeErr = err
			return m.Run()
		}
		defer os.RemoveAll(shim)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		shimPath = shim + "/gvisor-containerd-shim"
		node, nodeErr = cri.Start(ctx, cri.Options{Shim: shimPath})
		cancel()
		if nodeErr != nil {
			return m.Run()
		}
		defer node.Close()
		return m.Run()
	}()
	os.Exit(code)
}

func buildShim() (string, error) {
	dir, err := os.MkdirTemp("", "crishim-")
	if err != nil {
		return "", err
	}
	if err := containerdtest.MakeShim("../..", dir+"/gvisor-containerd-shim"); err != nil {
		os.RemoveAll(dir)
		return "", err
	}
	return dir, nil
}

// requireNode returns the node, or fails (CI=true) or skips the test when
// it could not start.
func requireNode(t *testing.T) *cri.Node {
	t.Helper()
	if nodeErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("required in CI: %v", nodeErr)
		}
		if errors.Is(nodeErr, cri.ErrMissing) {
			t.Skip(nodeErr)
		}
		t.Fatal(nodeErr)
	}
	return node
}
