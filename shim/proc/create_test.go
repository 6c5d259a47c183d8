package proc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/containerd/mount"

	"github.com/google/gvisor-containerd-shim/shim/runsc/lifetime"
)

// Creates run under their guard, as in the shim: this test binary is the
// guard, as the shim's binary is.
func TestMain(m *testing.M) {
	lifetime.GuardCreates()
	os.Exit(m.Run())
}

// newContainer creates container id in a fresh bundle with a tmpfs rootfs
// mount, as an Init or as an App of the fake pod.
func (f *fakePod) newContainer(t *testing.T, app bool, id string) (Container, string, error) {
	t.Helper()
	bundle := t.TempDir()
	if err := os.WriteFile(filepath.Join(bundle, "config.json"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := ContainerConfig{
		ID: id, Namespace: "ns", Bundle: bundle, Runtime: f.rt,
		Mounts: []mount.Mount{{Type: "tmpfs", Source: "tmpfs"}},
	}
	rootfs := filepath.Join(bundle, "rootfs")
	t.Cleanup(func() { mount.UnmountAll(rootfs, 0) })
	if app {
		a, err := NewApp(context.Background(), cfg, func(p Process, status int) { p.SetExited(status) })
		if err != nil {
			return nil, rootfs, err
		}
		return a, rootfs, nil
	}
	p, err := NewInit(context.Background(), cfg)
	if err != nil {
		return nil, rootfs, err
	}
	return p, rootfs, nil
}

// A shim killed during create leaves no rootfs mounted only if the
// create's guard knows the mount: both kinds of container pass it.
func TestCreateGuardKnowsRootfs(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting the rootfs needs root")
	}
	for _, app := range []bool{false, true} {
		f := newFakePod(t)
		c, rootfs, err := f.newContainer(t, app, "c")
		if err != nil {
			t.Fatalf("app %v: %v", app, err)
		}
		b, err := os.ReadFile(filepath.Join(f.dir, "guard"))
		if err != nil {
			t.Fatal(err)
		}
		var spec struct{ Rootfs string }
		if err := json.Unmarshal(b, &spec); err != nil {
			t.Fatalf("app %v: create ran without a guard spec (%q): %v", app, b, err)
		}
		if spec.Rootfs != rootfs {
			t.Errorf("app %v: create's guard unmounts %q, want the rootfs %q", app, spec.Rootfs, rootfs)
		}
		if err := c.Delete(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
}

// runsc create succeeds but its pid file cannot be read: the failed
// Create leaves no container in runsc (its sandbox or gofer would run on,
// owned by nobody) and no rootfs mounted.
func TestFailedCreateDeletesFromRunsc(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting the rootfs needs root")
	}
	for _, app := range []bool{false, true} {
		f := newFakePod(t)
		f.touch(t, "no-pid-file", "")
		if _, rootfs, err := f.newContainer(t, app, "c"); err == nil {
			t.Errorf("app %v: create succeeded without a pid file", app)
		} else if mounted(rootfs) {
			t.Errorf("app %v: rootfs still mounted after the failed create", app)
		}
		if calls := f.calls(t); !hasCall(calls, "delete --force c") {
			t.Errorf("app %v: runsc calls %q, want delete --force c after the failed create", app, calls)
		}
		if _, err := os.Stat(filepath.Join(f.dir, "state")); err == nil {
			t.Errorf("app %v: runsc still knows the container", app)
		}
	}
}

func mounted(path string) bool {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && f[4] == path {
			return true
		}
	}
	return false
}
