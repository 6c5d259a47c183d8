// Command runsc-checks runs the bare-runtime checks behind docs/cri.md's
// critest table: each runs one busybox container with runsc and with runc,
// no containerd and no shim, so a difference it shows is the runtime's. It
// prints a markdown table of what each printed. Root only; everything it
// makes goes under one temporary directory, removed at the end.
//
//	sudo go run ./cmd/runsc-checks [-runsc runsc] [-runc runc]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/containerd/containerd/containers"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/sys/unix"
)

// check is one container run on every runtime.
type check struct {
	name string
	cmd  string // run by sh -c
	// edit changes containerd's default spec; env has the check's paths.
	edit func(s *specs.Spec, env *checkEnv)
	// runscFlags are runsc's global flags besides --root; none means
	// --network=none.
	runscFlags []string
	// also runs it once more with runsc and these flags added.
	also []string
	// exec, when set, is run by sh -c with `<runtime> exec` in the
	// container, which runs cmd detached; its output is the check's.
	exec string
}

// checkEnv is what the checks share: their directory, and a listener on
// loopback for the host network check.
type checkEnv struct {
	dir      string
	hostPort int
}

func checks() []check {
	withCaps := func(add ...string) func(*specs.Spec, *checkEnv) {
		return func(s *specs.Spec, _ *checkEnv) {
			c := s.Process.Capabilities
			for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Permitted} {
				*set = append(*set, add...)
			}
		}
	}
	return []check{
		{name: "CAP_PERFMON among the process's capabilities", cmd: "echo ran", edit: withCaps("CAP_PERFMON")},
		{name: "`cat` two sysctls a pod may set", cmd: "cat /proc/sys/kernel/shm_rmid_forced /proc/sys/fs/mqueue/msg_max"},
		{name: "`linux.rootfsPropagation` rshared", cmd: "echo ran", edit: func(s *specs.Spec, _ *checkEnv) { s.Linux.RootfsPropagation = "rshared" }},
		{name: "`linux.maskedPaths` [/secret]; `cat /secret`", cmd: "cat /secret; echo end", edit: func(s *specs.Spec, _ *checkEnv) { s.Linux.MaskedPaths = []string{"/secret"} }},
		{name: "`linux.readonlyPaths` [/tmp]; `touch /tmp/f`", cmd: "touch /tmp/f && echo wrote", edit: func(s *specs.Spec, _ *checkEnv) { s.Linux.ReadonlyPaths = []string{"/tmp"} }},
		{name: "seccomp profile: sethostname fails with EPERM; `hostname x` with CAP_SYS_ADMIN", cmd: "hostname x && echo set", also: []string{"--oci-seccomp"},
			edit: func(s *specs.Spec, env *checkEnv) {
				withCaps("CAP_SYS_ADMIN")(s, env)
				errno := uint(unix.EPERM)
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
					Syscalls: []specs.LinuxSyscall{{Names: []string{"sethostname"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
			}},
		{name: "the same profile; `hostname x` by `exec` in the container", cmd: "sleep 60", exec: "hostname x && echo set", also: []string{"--oci-seccomp"},
			edit: func(s *specs.Spec, env *checkEnv) {
				withCaps("CAP_SYS_ADMIN")(s, env)
				errno := uint(unix.EPERM)
				s.Linux.Seccomp = &specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchX86_64},
					Syscalls: []specs.LinuxSyscall{{Names: []string{"sethostname"}, Action: specs.ActErrno, ErrnoRet: &errno}}}
			}},
		{name: "host network: the host's listener on 127.0.0.1 in `netstat -ln`", cmd: "netstat -ln 2>/dev/null | grep -q :$PORT && echo listed || echo 'not listed'", runscFlags: []string{"--network=host"},
			edit: func(s *specs.Spec, env *checkEnv) {
				s.Process.Env = append(s.Process.Env, fmt.Sprintf("PORT=%d", env.hostPort))
				removeNamespace(s, specs.NetworkNamespace)
			}},
		{name: "`ping -c1 127.0.0.1` without CAP_NET_RAW (host network)", cmd: "ping -c1 -W1 127.0.0.1 >/dev/null && echo pinged", runscFlags: []string{"--network=host"},
			edit: func(s *specs.Spec, _ *checkEnv) {
				removeNamespace(s, specs.NetworkNamespace)
				c := s.Process.Capabilities
				for _, set := range []*[]string{&c.Bounding, &c.Effective, &c.Permitted} {
					*set = without(*set, "CAP_NET_RAW")
				}
			}},
		{name: "`brctl addbr br0` with CAP_NET_ADMIN (own network namespace)", cmd: "brctl addbr br0 && echo added", edit: withCaps("CAP_NET_ADMIN")},
		{name: "a tmpfs under an `rbind,ro` mount; `touch` in it", cmd: "touch /mnt/tmpfs/f && echo wrote",
			edit: func(s *specs.Spec, env *checkEnv) {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: "/mnt", Type: "bind", Source: filepath.Join(env.dir, "host"), Options: []string{"rbind", "ro"}})
			}},
	}
}

func without(set []string, c string) []string {
	var out []string
	for _, s := range set {
		if s != c {
			out = append(out, s)
		}
	}
	return out
}

func removeNamespace(s *specs.Spec, t specs.LinuxNamespaceType) {
	var kept []specs.LinuxNamespace
	for _, ns := range s.Linux.Namespaces {
		if ns.Type != t {
			kept = append(kept, ns)
		}
	}
	s.Linux.Namespaces = kept
}

func main() {
	runsc := flag.String("runsc", "runsc", "runsc binary")
	runc := flag.String("runc", "runc", "runc binary")
	busybox := flag.String("busybox", "/bin/busybox", "a static busybox for the rootfs")
	flag.Parse()
	if err := run(*runsc, *runc, *busybox); err != nil {
		fmt.Fprintln(os.Stderr, "runsc-checks:", err)
		os.Exit(1)
	}
}

func run(runsc, runc, busybox string) error {
	if os.Geteuid() != 0 {
		return fmt.Errorf("needs root")
	}
	dir, err := os.MkdirTemp("", "runsc-checks-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := &checkEnv{dir: dir}
	if err := makeRootfs(filepath.Join(dir, "rootfs"), busybox); err != nil {
		return err
	}
	// The read-only bind check's host side: a directory with a tmpfs.
	tmpfs := filepath.Join(dir, "host", "tmpfs")
	if err := os.MkdirAll(tmpfs, 0o755); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", tmpfs, "tmpfs", 0, "size=1m"); err != nil {
		return fmt.Errorf("mount tmpfs: %w", err)
	}
	defer unix.Unmount(tmpfs, unix.MNT_DETACH)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	defer ln.Close()
	env.hostPort = ln.Addr().(*net.TCPAddr).Port

	version, _ := exec.Command(runsc, "--version").Output()
	first, _, _ := strings.Cut(string(version), "\n")
	fmt.Printf("runsc: %s (%s)\n\n| check | runsc | runc |\n|---|---|---|\n", first, runsc)
	for i, c := range checks() {
		spec, err := baseSpec(filepath.Join(dir, "rootfs"), c.cmd)
		if err != nil {
			return err
		}
		if c.edit != nil {
			c.edit(spec, env)
		}
		bundle := filepath.Join(dir, fmt.Sprintf("bundle-%d", i))
		if err := writeBundle(bundle, spec); err != nil {
			return err
		}
		flags := c.runscFlags
		if flags == nil {
			flags = []string{"--network=none"}
		}
		got := runOne(dir, runsc, flags, bundle, fmt.Sprintf("check-%d", i), c.exec)
		if c.also != nil {
			got += "; with " + strings.Join(c.also, " ") + ": " + runOne(dir, runsc, append(flags, c.also...), bundle, fmt.Sprintf("check-%d-also", i), c.exec)
		}
		fmt.Printf("| %s | %s | %s |\n", c.name, got, runOne(dir, runc, nil, bundle, fmt.Sprintf("check-%d-runc", i), c.exec))
	}
	return nil
}

// makeRootfs makes a busybox rootfs with the applets the checks run and a
// file /secret.
func makeRootfs(root, busybox string) error {
	for _, d := range []string{"bin", "proc", "dev", "sys", "tmp", "mnt", "etc"} {
		if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
			return err
		}
	}
	b, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), b, 0o755); err != nil {
		return err
	}
	for _, a := range []string{"sh", "cat", "echo", "touch", "hostname", "netstat", "grep", "ping", "brctl"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", a)); err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(root, "secret"), []byte("secret-content\n"), 0o644)
}

// baseSpec is containerd's default spec for a container running cmd.
func baseSpec(rootfs, cmd string) (*specs.Spec, error) {
	ctx := namespaces.WithNamespace(context.Background(), "runsc-checks")
	s, err := oci.GenerateSpec(ctx, nil, &containers.Container{ID: "check"},
		oci.WithRootFSPath(rootfs), oci.WithDefaultPathEnv, oci.WithProcessArgs("/bin/sh", "-c", cmd))
	if err != nil {
		return nil, err
	}
	s.Linux.CgroupsPath = "" // no cgroup of the checks' own to clean up
	s.Linux.Resources = nil
	return s, nil
}

func writeBundle(bundle string, s *specs.Spec) error {
	if err := os.MkdirAll(bundle, 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o644)
}

// runOne runs the bundle's container to its end (bounded to 60 s), or with
// execCmd detached and execCmd in it, and returns the output (or the
// runtime's error) on one line, then deletes it.
func runOne(dir, runtime string, flags []string, bundle, id, execCmd string) string {
	root := filepath.Join(dir, "root-"+id)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	args := append([]string{"--root", root}, flags...)
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, runtime, append(args, "run", "--bundle", bundle, id)...)
	if execCmd != "" {
		// The detached container keeps the run's stdio: /dev/null, not a
		// pipe that would never close.
		cmd = exec.CommandContext(ctx, runtime, append(args, "run", "--detach", "--bundle", bundle, id)...)
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(&out, "run --detach: %v", err)
		} else {
			cmd = exec.CommandContext(ctx, runtime, append(args, "exec", id, "/bin/sh", "-c", execCmd)...)
		}
	}
	cmd.Stdout, cmd.Stderr = &out, &out
	var err error
	if cmd.Process == nil && cmd.ProcessState == nil {
		err = cmd.Run()
	}
	exec.Command(runtime, append(args, "delete", "--force", id)...).Run()
	// runsc leaves a network namespace mount in its root with --network=none.
	if m, _ := filepath.Glob(filepath.Join(root, "*-netns")); len(m) > 0 {
		for _, p := range m {
			unix.Unmount(p, unix.MNT_DETACH)
		}
	}
	s := strings.Join(strings.Fields(strings.ReplaceAll(out.String(), "|", "/")), " ")
	if err != nil {
		s += fmt.Sprintf(" (%v)", err)
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return "`" + s + "`"
}
