package cli

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/google/gvisor-containerd-shim/shim/config"
)

func TestParseFlagsDefaults(t *testing.T) {
	got, err := ParseFlags(nil, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Flags{
		RuntimeRoot:      "/run/containerd/runc",
		ContainerdBinary: "containerd",
		ConfigPath:       "/etc/containerd/runsc.toml",
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("defaults:\n got %+v\nwant %+v", got, want)
	}
}

// The command line containerd 1.6 builds in runtime/v1/shim/client
// (newCommand), with every optional flag, plus the seed's -socket and -config.
func TestParseFlagsContainerdCommandLine(t *testing.T) {
	args := []string{
		"-namespace", "k8s.io",
		"-workdir", "/var/lib/containerd/io.containerd.runtime.v1.linux/k8s.io/c1",
		"-address", "/run/containerd/containerd.sock",
		"-containerd-binary", "/usr/bin/containerd",
		"-criu-path", "/usr/sbin/criu",
		"-runtime-root", "/run/containerd/runsc",
		"-systemd-cgroup",
		"-debug",
		"-socket", "/containerd-shim/k8s.io/c1/shim.sock",
		"-config", "/etc/containerd/other.toml",
	}
	got, err := ParseFlags(args, &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	want := Flags{
		Debug:            true,
		Namespace:        "k8s.io",
		Socket:           "/containerd-shim/k8s.io/c1/shim.sock",
		Address:          "/run/containerd/containerd.sock",
		WorkDir:          "/var/lib/containerd/io.containerd.runtime.v1.linux/k8s.io/c1",
		RuntimeRoot:      "/run/containerd/runsc",
		ContainerdBinary: "/usr/bin/containerd",
		ConfigPath:       "/etc/containerd/other.toml",
		CriuPath:         "/usr/sbin/criu",
		SystemdCgroup:    true,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("flags:\n got %+v\nwant %+v", got, want)
	}
	ignored := got.ignored()
	if ignored["criu-path"] != "/usr/sbin/criu" || ignored["systemd-cgroup"] != true || len(ignored) != 2 {
		t.Fatalf("ignored = %v, want criu-path and systemd-cgroup", ignored)
	}
}

func TestParseFlagsErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-bogus"},
		{"-namespace"},
		{"-debug=maybe"},
	} {
		var usage bytes.Buffer
		_, err := ParseFlags(args, &usage)
		if err == nil {
			t.Errorf("ParseFlags(%q) succeeded, want an error", args)
			continue
		}
		if usage.Len() != 0 {
			t.Errorf("ParseFlags(%q) wrote to the output; errors must only be returned:\n%s", args, usage.String())
		}
	}
}

func TestParseFlagsHelp(t *testing.T) {
	var usage bytes.Buffer
	_, err := ParseFlags([]string{"-h"}, &usage)
	if !errors.Is(err, ErrHelp) {
		t.Fatalf("-h: got %v, want ErrHelp", err)
	}
	for _, name := range []string{"-debug", "-namespace", "-socket", "-address", "-workdir", "-runtime-root", "-containerd-binary", "-config", "-criu-path", "-systemd-cgroup"} {
		if !strings.Contains(usage.String(), name) {
			t.Errorf("usage does not document %s:\n%s", name, usage.String())
		}
	}
}

func TestUsesRuncShim(t *testing.T) {
	for root, want := range map[string]bool{
		"/run/containerd/runc":   true,
		"/run/containerd/runsc":  false,
		"/run/containerd/runsc/": false,
		"/var/run/runsc-other":   true,
		"runsc":                  false,
		"/run/kata":              true,
	} {
		if got := usesRuncShim(root); got != want {
			t.Errorf("usesRuncShim(%q) = %v, want %v", root, got, want)
		}
	}
}

func TestRuncShimPath(t *testing.T) {
	lookPath := func(name string) (string, error) {
		if name != "containerd-shim" {
			t.Errorf("looked up %q, want containerd-shim", name)
		}
		return "/usr/bin/containerd-shim", nil
	}
	if got, err := runcShimPath(config.Config{RuncShim: "/opt/bin/shim"}, lookPath); err != nil || got != "/opt/bin/shim" {
		t.Errorf("with runc_shim: got %q, %v; want /opt/bin/shim", got, err)
	}
	if got, err := runcShimPath(config.Config{}, lookPath); err != nil || got != "/usr/bin/containerd-shim" {
		t.Errorf("without runc_shim: got %q, %v; want containerd-shim from PATH", got, err)
	}
	notFound := func(string) (string, error) { return "", errors.New("not found") }
	if _, err := runcShimPath(config.Config{}, notFound); err == nil || !strings.Contains(err.Error(), "containerd-shim") {
		t.Errorf("nothing on PATH: got %v, want an error naming containerd-shim", err)
	}
}

func TestLoadConfigMissingFileIsDefaults(t *testing.T) {
	cfg, err := loadConfig(filepath.Join(t.TempDir(), "absent.toml"))
	if err != nil || !reflect.DeepEqual(cfg, config.Config{}) {
		t.Fatalf("missing file: got %+v, %v; want defaults", cfg, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.toml")
	if err := os.WriteFile(bad, []byte("runc_shim = \n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := loadConfig(bad); err == nil {
		t.Fatal("malformed file: got no error")
	}
}

func TestSocketPathLimit(t *testing.T) {
	ok := "/" + strings.Repeat("s", socketPathLimit-1)
	if err := checkSocketPath(ok); err != nil {
		t.Errorf("%d-byte path rejected: %v", len(ok), err)
	}
	long := ok + "s"
	err := checkSocketPath(long)
	if err == nil || !strings.Contains(err.Error(), "too long") {
		t.Fatalf("%d-byte path: got %v, want a too-long error", len(long), err)
	}
	if _, err := listen(long); err == nil {
		t.Fatal("listen accepted a path over the limit")
	}
}

// A valid abstract socket is served; the name does not appear on the
// filesystem.
func TestListenAbstract(t *testing.T) {
	name := filepath.Join(t.TempDir(), "shim.sock")
	l, err := listen(name)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if _, err := os.Stat(name); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("abstract socket created a file: %v", err)
	}
	if got := l.Addr().String(); got != "@"+name {
		t.Fatalf("listening on %q, want @%s", got, name)
	}
}

func TestValidate(t *testing.T) {
	good := Flags{Namespace: "default", Address: "/run/containerd/containerd.sock"}
	if err := validate(good); err != nil {
		t.Fatalf("valid flags rejected: %v", err)
	}
	for name, f := range map[string]Flags{
		"-namespace": {Address: good.Address},
		"-address":   {Namespace: good.Namespace},
		"-socket":    {Namespace: good.Namespace, Address: good.Address, Socket: strings.Repeat("x", 107)},
	} {
		err := validate(f)
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("validate(%+v) = %v, want an error naming %s", f, err, name)
		}
	}
}

func TestOneLine(t *testing.T) {
	if got := oneLine(errors.New("a\nb\n")); got != "a b" {
		t.Fatalf("oneLine = %q", got)
	}
}
