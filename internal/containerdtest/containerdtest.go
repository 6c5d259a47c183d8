// Package containerdtest gives tests a real containerd daemon (see
// internal/ctrdaemon) and the checks that decide whether a test can run.
package containerdtest

import (
	"os"
	"os/exec"
	"testing"
	"time"

	"github.com/containerd/containerd"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
)

// V1Runtime is the runtime name containers use to run on the v1 shim API.
const V1Runtime = ctrdaemon.V1Runtime

// Config is the daemon's v1 runtime configuration.
type Config = ctrdaemon.Config

// RequireBinaries fails the test in CI (CI=true) and skips it elsewhere when
// one of the binaries is not on PATH or the test is not running as root.
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	for _, name := range names {
		if _, err := exec.LookPath(name); err != nil {
			missing(t, name+" not found on PATH (run `make setup`)")
		}
	}
	if os.Geteuid() != 0 {
		missing(t, "containerd tests need root")
	}
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required in CI: %s", why)
	}
	t.Skip(why)
}

// Start starts containerd and stops it (and cleans up after it) when the
// test ends. On failure the tail of its log goes into the test output.
func Start(t testing.TB, cfg Config) *ctrdaemon.Daemon {
	t.Helper()
	RequireBinaries(t, "containerd")
	d, err := ctrdaemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("containerd log (tail):\n%s", d.LogTail(8<<10))
		}
		if err := d.Close(); err != nil {
			t.Errorf("stopping containerd: %v", err)
		}
	})
	return d
}

// Client returns a client of d, closed when the test ends.
func Client(t testing.TB, d *ctrdaemon.Daemon) *containerd.Client {
	t.Helper()
	c, err := containerd.New(d.Address, containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
