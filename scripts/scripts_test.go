// Package scripts holds the shell scripts the Makefile runs; this file tests
// them, and the CI entry point .ci/run, against fake system tools on PATH.
package scripts

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeDpkgQuery answers like dpkg-query -W -f='${Status}' for a few
// packages: installed, held (still installed), removed but not purged,
// half-installed, and unknown (dpkg-query fails).
const fakeDpkgQuery = `#!/bin/sh
eval p=\$$#
case "$p" in
present) printf 'install ok installed' ;;
held) printf 'hold ok installed' ;;
removed) printf 'deinstall ok config-files' ;;
broken) printf 'install reinstreq half-installed' ;;
*) echo "dpkg-query: no packages found matching $p" >&2; exit 1 ;;
esac
`

// fakeTools writes fake dpkg-query and apt-get (which records its
// arguments in dir/apt-get.log) and returns a PATH that finds them first.
func fakeTools(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name, text string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	write("dpkg-query", fakeDpkgQuery)
	write("apt-get", "#!/bin/sh\necho \"$*\" >> "+filepath.Join(dir, "apt-get.log")+"\n")
	return dir, dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

func withPath(env []string, path string) []string {
	return append(env, "PATH="+path)
}

func TestMissingPackagesCountsOnlyInstalled(t *testing.T) {
	_, path := fakeTools(t)
	cmd := exec.Command("./missing-packages", "present", "removed", "held", "broken", "unknown")
	cmd.Env = withPath(os.Environ(), path)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("missing-packages: %v", err)
	}
	if got, want := string(out), "removed broken unknown\n"; got != want {
		t.Fatalf("missing-packages printed %q, want %q", got, want)
	}
}

func TestMissingPackagesNothingMissing(t *testing.T) {
	_, path := fakeTools(t)
	cmd := exec.Command("./missing-packages", "present", "held")
	cmd.Env = withPath(os.Environ(), path)
	out, err := cmd.Output()
	if err != nil || string(out) != "\n" {
		t.Fatalf("missing-packages: %q, %v; want an empty line", out, err)
	}
}

// `make setup` after `apt-get remove containerd` (status "deinstall ok
// config-files") installs containerd again, and only what is missing.
func TestMakeSetupInstallsRemovedPackages(t *testing.T) {
	if _, err := exec.LookPath("make"); err != nil {
		t.Skip("make not installed")
	}
	dir, path := fakeTools(t)
	// The fake dpkg-query knows the Makefile's packages by these answers.
	script := `#!/bin/sh
eval p=\$$#
case "$p" in
containerd) printf 'deinstall ok config-files' ;;
runsc) exit 1 ;;
*) printf 'install ok installed' ;;
esac
`
	if err := os.WriteFile(filepath.Join(dir, "dpkg-query"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// GO=true: the module downloads are not what this test is about.
	cmd := exec.Command("make", "-s", "-C", "..", "setup", "GO=true")
	cmd.Env = withPath(os.Environ(), path)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make setup: %v\n%s", err, out)
	}
	log, err := os.ReadFile(filepath.Join(dir, "apt-get.log"))
	if err != nil {
		t.Fatalf("make setup did not run apt-get: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(lines) != 2 || lines[0] != "update -qq" || lines[1] != "install -y -qq containerd runsc" {
		t.Fatalf("apt-get ran as:\n%s\nwant update, then install of containerd and runsc only", log)
	}
}

// .ci/run makes a missing containerd or runsc a failure, not a skip, whoever
// runs it: it runs make test with CI=true even when the caller's CI is unset
// or another value.
func TestCIRunRunsMakeTestWithCITrue(t *testing.T) {
	for _, inherited := range []string{"", "1"} {
		dir := t.TempDir()
		fakeMake := "#!/bin/sh\necho \"CI=${CI-unset} $*\" > " + filepath.Join(dir, "make.log") + "\n"
		if err := os.WriteFile(filepath.Join(dir, "make"), []byte(fakeMake), 0o755); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command("bash", "../.ci/run")
		for _, kv := range os.Environ() {
			if !strings.HasPrefix(kv, "CI=") {
				cmd.Env = append(cmd.Env, kv)
			}
		}
		if inherited != "" {
			cmd.Env = append(cmd.Env, "CI="+inherited)
		}
		cmd.Env = withPath(cmd.Env, dir+string(os.PathListSeparator)+os.Getenv("PATH"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf(".ci/run: %v\n%s", err, out)
		}
		log, err := os.ReadFile(filepath.Join(dir, "make.log"))
		if err != nil {
			t.Fatalf(".ci/run did not run make: %v", err)
		}
		if got, want := strings.TrimSpace(string(log)), "CI=true test"; got != want {
			t.Errorf("with CI=%q inherited, .ci/run ran make as %q, want %q", inherited, got, want)
		}
	}
}
