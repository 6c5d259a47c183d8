package cli

import (
	"bytes"
	"flag"
	"io"
	"reflect"
	"testing"
)

func TestRuncShimArgs(t *testing.T) {
	for _, tc := range []struct {
		name     string
		args     []string
		want     []string
		wantNone bool // want is empty
	}{
		{name: "containerd's command line, untouched",
			args: []string{"-namespace", "k8s.io", "-workdir", "/w", "-address", "/c.sock", "-containerd-binary", "/usr/bin/containerd", "-runtime-root", "/run/containerd/runc", "-systemd-cgroup", "-debug"},
			want: []string{"-namespace", "k8s.io", "-workdir", "/w", "-address", "/c.sock", "-containerd-binary", "/usr/bin/containerd", "-runtime-root", "/run/containerd/runc", "-systemd-cgroup", "-debug"}},
		{name: "-config X from a wrapper, before containerd's flags",
			args: []string{"-config", "/x.toml", "-namespace", "n", "-address", "/c.sock"},
			want: []string{"-namespace", "n", "-address", "/c.sock"}},
		{name: "-config=X after them",
			args: []string{"-namespace", "n", "-config=/x.toml"},
			want: []string{"-namespace", "n"}},
		{name: "--config X and --config=X",
			args: []string{"--config", "/x.toml", "-debug", "--config=/y.toml"},
			want: []string{"-debug"}},
		{name: "only -config", args: []string{"-config", "/x.toml"}, wantNone: true},
		{name: "-criu-path P becomes -criu P",
			args: []string{"-namespace", "n", "-criu-path", "/usr/sbin/criu", "-runtime-root", "/r/runc"},
			want: []string{"-namespace", "n", "-criu", "/usr/sbin/criu", "-runtime-root", "/r/runc"}},
		{name: "-criu-path=P and --criu-path P",
			args: []string{"-criu-path=/a/criu", "--criu-path", "/b/criu"},
			want: []string{"-criu=/a/criu", "--criu", "/b/criu"}},
		{name: "a value that looks like a flag is a value",
			args: []string{"-namespace", "-config", "-workdir", "-criu-path"},
			want: []string{"-namespace", "-config", "-workdir", "-criu-path"}},
		{name: "a boolean flag takes no value",
			args: []string{"-debug", "-config", "/x.toml", "-systemd-cgroup=true", "-criu-path", "/c"},
			want: []string{"-debug", "-systemd-cgroup=true", "-criu", "/c"}},
		{name: "parsing ends at --",
			args: []string{"-debug", "--", "-config", "/x.toml"},
			want: []string{"-debug", "--", "-config", "/x.toml"}},
		{name: "parsing ends at the first positional argument",
			args: []string{"-config", "/x.toml", "extra", "-criu-path", "/c"},
			want: []string{"extra", "-criu-path", "/c"}},
		{name: "nothing", args: nil, wantNone: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseFlags(tc.args, io.Discard); err != nil {
				t.Fatalf("the shim itself rejects %q: %v", tc.args, err)
			}
			got := runcShimArgs(tc.args)
			if tc.wantNone {
				if len(got) != 0 {
					t.Fatalf("runcShimArgs(%q) = %q, want nothing", tc.args, got)
				}
				return
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("runcShimArgs(%q)\n got %q\nwant %q", tc.args, got, tc.want)
			}
		})
	}
}

// containerdShimFlags is containerd-shim's command line (containerd v1.6.38,
// cmd/containerd-shim/main_unix.go), without the shim itself.
type containerdShimFlags struct {
	Debug, SystemdCgroup                                                     bool
	Namespace, Socket, Address, WorkDir, RuntimeRoot, Criu, ContainerdBinary string
}

func parseAsContainerdShim(args []string) (containerdShimFlags, error) {
	var f containerdShimFlags
	fs := flag.NewFlagSet("containerd-shim", flag.ContinueOnError)
	fs.SetOutput(&bytes.Buffer{})
	fs.BoolVar(&f.Debug, "debug", false, "")
	fs.StringVar(&f.Namespace, "namespace", "", "")
	fs.StringVar(&f.Socket, "socket", "", "")
	fs.StringVar(&f.Address, "address", "", "")
	fs.StringVar(&f.WorkDir, "workdir", "", "")
	fs.StringVar(&f.RuntimeRoot, "runtime-root", "/run/containerd/runc", "")
	fs.StringVar(&f.Criu, "criu", "", "")
	fs.BoolVar(&f.SystemdCgroup, "systemd-cgroup", false, "")
	fs.StringVar(&f.ContainerdBinary, "containerd-binary", "containerd", "")
	return f, fs.Parse(args)
}

// Every command line this shim accepts reaches containerd-shim as one it
// accepts too, with the same meaning for each flag they share.
func TestRuncShimArgsParseAsContainerdShim(t *testing.T) {
	for _, args := range [][]string{
		{"-namespace", "k8s.io", "-workdir", "/w", "-address", "/c.sock", "-containerd-binary", "/usr/bin/containerd",
			"-criu-path", "/usr/sbin/criu", "-runtime-root", "/r/runc", "-systemd-cgroup", "-debug", "-config", "/x.toml"},
		{"--config=/x.toml", "--criu-path=/c", "-socket", "/s", "--debug"},
		{"-config", "/x.toml"},
	} {
		ours, err := ParseFlags(args, io.Discard)
		if err != nil {
			t.Fatal(err)
		}
		theirs, err := parseAsContainerdShim(runcShimArgs(args))
		if err != nil {
			t.Fatalf("containerd-shim would reject %q (from %q): %v", runcShimArgs(args), args, err)
		}
		want := containerdShimFlags{
			Debug: ours.Debug, SystemdCgroup: ours.SystemdCgroup, Namespace: ours.Namespace, Socket: ours.Socket,
			Address: ours.Address, WorkDir: ours.WorkDir, RuntimeRoot: ours.RuntimeRoot, Criu: ours.CriuPath,
			ContainerdBinary: ours.ContainerdBinary,
		}
		if theirs != want {
			t.Fatalf("containerd-shim would see %+v for %q, want %+v", theirs, args, want)
		}
	}
}
