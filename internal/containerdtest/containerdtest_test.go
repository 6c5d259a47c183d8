package containerdtest

import (
	"context"
	"debug/buildinfo"
	"debug/elf"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	eventtypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/publisher"
)

func TestMain(m *testing.M) {
	code := m.Run()
	RemoveShim()
	os.Exit(code)
}

// RemoveShim deletes the built shim and its directory; BuildShim builds
// it again afterwards.
func TestRemoveShim(t *testing.T) {
	path := BuildShim(t)
	RemoveShim()
	if _, err := os.Stat(filepath.Dir(path)); !os.IsNotExist(err) {
		t.Fatalf("%s still there after RemoveShim: %v", filepath.Dir(path), err)
	}
	again := BuildShim(t)
	if _, err := os.Stat(again); err != nil {
		t.Fatalf("BuildShim after RemoveShim: %v", err)
	}
}

// The helper must give a daemon that serves both APIs, survives a restart on
// the same sockets, and leaves nothing behind.
func TestStartRestartCleanup(t *testing.T) {
	var dir string
	t.Run("daemon", func(t *testing.T) {
		d := Start(t, Config{Runtime: "runsc", RuntimeRootBase: "runsc"})
		dir = d.Dir
		c := Client(t, d)
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatalf("version: %v", err)
		}
		if _, err := os.Stat(d.Address + ".ttrpc"); err != nil {
			t.Fatalf("ttrpc socket: %v", err)
		}
		// The daemon is the binary CONTAINERD names (PATH's otherwise).
		want, _ := exec.LookPath("containerd")
		if env := os.Getenv(ctrdaemon.ContainerdEnv); env != "" {
			want = env
		}
		want, _ = filepath.EvalSymlinks(want)
		if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", d.Pid())); err != nil || exe != want {
			t.Fatalf("daemon runs %q (%v), want %q", exe, err, want)
		}
		if err := d.Stop(); err != nil {
			t.Fatal(err)
		}
		if err := d.Restart(); err != nil {
			t.Fatalf("restart: %v", err)
		}
		if _, err := c.Version(context.Background()); err != nil {
			t.Fatalf("version after restart: %v", err)
		}
	})
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("daemon dir %s left behind: %v", dir, err)
	}
}

// A held proxy keeps shims' events out until released; the daemon behind it
// is reached through its moved ttrpc socket.
func TestProxyHoldsUntilReleased(t *testing.T) {
	d := Start(t, Config{TTRPCSocketName: "real.ttrpc"})
	p := StartProxy(t, d.Address+".ttrpc", d.TTRPCAddress)
	p.Hold()
	client := Client(t, d)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	envs, errs := client.EventService().Subscribe(ctx, `topic=="/proxy/test"`)
	time.Sleep(200 * time.Millisecond) // let the subscription register

	pub, err := publisher.New(publisher.Config{Address: d.Address, Mode: publisher.ModeTTRPC, RequestTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close(context.Background())
	if err := pub.Publish(namespaces.WithNamespace(ctx, "ns"), "/proxy/test", &eventtypes.TaskExit{ID: "x"}); err != nil {
		t.Fatal(err)
	}
	select {
	case env := <-envs:
		t.Fatalf("event passed a held proxy: %+v", env)
	case err := <-errs:
		t.Fatal(err)
	case <-time.After(time.Second):
	}
	p.Release()
	select {
	case <-envs:
	case err := <-errs:
		t.Fatal(err)
	case <-ctx.Done():
		t.Fatal("event did not arrive after release")
	}
}

// The shim the tests run is the one that ships: static (no dynamic loader
// or libc mapped into every shim process) and without symbol table or DWARF.
func TestBuildShimShipsStaticStripped(t *testing.T) {
	f, err := elf.Open(BuildShim(t))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the shim is dynamically linked (PT_INTERP): build it with CGO_ENABLED=0")
		}
	}
	for _, name := range []string{".symtab", ".debug_info"} {
		if f.Section(name) != nil {
			t.Errorf("the shim has %s: build it with -ldflags='-s -w'", name)
		}
	}
}

// The shim ships with Go's previous collector: Green Tea's per-span mark
// state costs every shim 100-150 KiB of private memory (Makefile).
func TestBuildShimShipsWithoutGreenTea(t *testing.T) {
	info, err := buildinfo.ReadFile(BuildShim(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range info.Settings {
		if s.Key == "GOEXPERIMENT" {
			if !slices.Contains(strings.Split(s.Value, ","), "nogreenteagc") {
				t.Errorf("the shim is built with GOEXPERIMENT=%s, want nogreenteagc in it", s.Value)
			}
			return
		}
	}
	t.Error("the shim is built without GOEXPERIMENT: build it with GOEXPERIMENT=nogreenteagc")
}
