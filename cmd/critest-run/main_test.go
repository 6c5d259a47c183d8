package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makeCritestFocus returns the focus critest-run would use when `make
// critest` runs it with the given extra environment: the critest-run command
// line of `make -n critest`, split into arguments by sh and parsed by
// critest-run's own flags.
func makeCritestFocus(t *testing.T, env ...string) string {
	t.Helper()
	cmd := exec.Command("make", "-s", "-n", "-C", "../..", "critest")
	// Not the caller's focus, nor its make's (make test passes its
	// command-line variables down in MAKEFLAGS).
	for _, kv := range cmd.Environ() {
		if name, _, _ := strings.Cut(kv, "="); name != "CRITEST_FOCUS" && name != "MAKEFLAGS" && name != "MFLAGS" && name != "MAKELEVEL" {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make -n critest: %v", err)
	}
	var line string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "bin/critest-run ") {
			line = strings.TrimPrefix(l, "bin/critest-run ")
		}
	}
	if line == "" {
		t.Fatalf("make -n critest runs no bin/critest-run:\n%s", out)
	}
	// sh, not strings.Fields: the focus is quoted for the shell.
	argv, err := exec.Command("sh", "-c", `printargs() { for a; do printf '%s\n' "$a"; done; }; printargs `+line).Output()
	if err != nil {
		t.Fatalf("sh cannot split %q: %v", line, err)
	}
	o, err := parseFlags(strings.Split(strings.TrimSuffix(string(argv), "\n"), "\n"))
	if err != nil {
		t.Fatalf("critest-run rejects make's arguments %q: %v", line, err)
	}
	return o.focus
}

// `make critest` runs the subset, DefaultFocus; CRITEST_FOCUS replaces
// it, and CRITEST_FOCUS=” runs the whole suite (docs/cri.md, README).
func TestMakeCritestFocus(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	for _, c := range []struct {
		env  []string
		want string
	}{
		{nil, DefaultFocus},
		{[]string{"CRITEST_FOCUS="}, ""},
		{[]string{`CRITEST_FOCUS=\[k8s\.io\] Networking`}, `\[k8s\.io\] Networking`},
	} {
		if got := makeCritestFocus(t, c.env...); got != c.want {
			t.Errorf("make critest with %q runs critest-run with focus %q, want %q", c.env, got, c.want)
		}
	}
}

// -shim-config runs critest with another shim config (docs/cri.md runs the
// port-forward specs with network = "host"); a missing or empty file is a
// clear error before any daemon starts.
func TestShimConfigFlag(t *testing.T) {
	dir := t.TempDir()
	host := filepath.Join(dir, "host.toml")
	const cfg = "[runsc_config]\n  network = \"host\"\n"
	if err := os.WriteFile(host, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(dir, "empty.toml")
	if err := os.WriteFile(empty, []byte("\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o, err := parseFlags([]string{"-shim-config", host})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := loadShimConfig(o.shimConfig); err != nil || got != cfg {
		t.Fatalf("loadShimConfig(%s) = %q, %v; want the file's contents", host, got, err)
	}
	if got, err := loadShimConfig(""); err != nil || got != "" {
		t.Fatalf("no -shim-config: %q, %v; want the default (empty)", got, err)
	}
	for _, bad := range []string{filepath.Join(dir, "missing.toml"), empty} {
		if _, err := loadShimConfig(bad); err == nil || !strings.HasPrefix(err.Error(), "-shim-config: ") {
			t.Errorf("loadShimConfig(%s): error %v, want one naming -shim-config", bad, err)
		}
	}
}
