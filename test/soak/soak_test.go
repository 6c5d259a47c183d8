// Package soak_test is the short probe soak: after 100 probes of warm-up,
// 200 exec probes per handler through containerd's CRI plugin (150 ok, 25
// exiting 1, 25 of a missing binary) and four container restarts, with our
// shim and containerd-shim side by side; every probe must give its result
// in time and no figure may grow past its tolerance (internal/soak).
// `make soak` runs 2,000.
package soak_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/internal/soak"
)

func TestProbeSoak(t *testing.T) {
	node := startNode(t)
	cfg := soak.DefaultConfig()
	cfg.Probes = 200
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	rep, err := soak.Run(ctx, node, cfg)
	if err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	rep.Print(&out)
	t.Log(out.String())
	for _, f := range rep.Failures {
		t.Error(f)
	}
}

// startNode starts a CRI node on a freshly built shim, or fails (CI=true)
// or skips the test when a dependency is missing.
func startNode(t *testing.T) *cri.Node {
	t.Helper()
	need := func(err error) {
		if os.Getenv("CI") == "true" {
			t.Fatalf("required in CI: %v", err)
		}
		if errors.Is(err, cri.ErrMissing) {
			t.Skip(err)
		}
		t.Fatal(err)
	}
	if os.Geteuid() != 0 {
		need(fmt.Errorf("%w: the soak needs root", cri.ErrMissing))
	}
	for _, bin := range []string{"containerd", "runsc", "runc", "containerd-shim", "busybox", "go"} {
		if _, err := exec.LookPath(bin); err != nil {
			need(fmt.Errorf("%w: %s not found on PATH (run `make setup`)", cri.ErrMissing, bin))
		}
	}
	shim := t.TempDir() + "/gvisor-containerd-shim"
	if err := containerdtest.MakeShim("../..", shim); err != nil {
		need(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	node, err := cri.Start(ctx, cri.Options{Shim: shim})
	if err != nil {
		need(err)
	}
	t.Cleanup(func() {
		if err := node.Close(); err != nil {
			t.Errorf("closing the node: %v", err)
		}
	})
	return node
}
