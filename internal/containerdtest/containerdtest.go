// Package containerdtest gives tests a real containerd daemon (see
// internal/ctrdaemon) and the checks that decide whether a test can run.
package containerdtest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"regexp"
	"strings"
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
// one of the binaries is not on PATH or the test is not running as root. It
// always fails when RUNSC or CONTAINERD names no usable binary: the run
// asked for one (see ctrdaemon.RunscEnv).
func RequireBinaries(t testing.TB, names ...string) {
	t.Helper()
	if err := ctrdaemon.BinariesErr(); err != nil {
		t.Fatal(err)
	}
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
// test ends. On failure its log (shims' stderr included, with ShimDebug)
// outlives the cleanup: see keepLog.
func Start(t testing.TB, cfg Config) *ctrdaemon.Daemon {
	t.Helper()
	RequireBinaries(t, "containerd")
	d, err := ctrdaemon.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			keepLog(t, d)
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

// alarming matches the log lines that explain most failures: errors and
// warnings of the daemon and the shims, Go panics and fatal errors, shim
// exits. The tail alone often starts after them under churn.
var alarming = regexp.MustCompile(`level=(error|warning|fatal|panic)|panic:|fatal error:|goroutine \d+ \[|shim exited|shim reaped|timeout|deadline`)

// keepLog copies the failed test's daemon log, which Close removes, to a file
// in $CONTAINERDTEST_LOG_DIR (or the temp dir), and puts the alarming lines
// and the tail in the test output, for CI where the file is lost.
func keepLog(t testing.TB, d *ctrdaemon.Daemon) {
	t.Helper()
	log, _ := os.ReadFile(d.LogPath)
	dir := os.Getenv("CONTAINERDTEST_LOG_DIR")
	if dir == "" {
		dir = os.TempDir()
	}
	name := strings.NewReplacer("/", "_", " ", "_").Replace(t.Name())
	if f, err := os.CreateTemp(dir, "containerd-"+name+"-*.log"); err != nil {
		t.Logf("keeping the containerd log: %v", err)
	} else {
		f.Write(log)
		f.Close()
		t.Logf("containerd log kept in %s", f.Name())
	}
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(log))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if alarming.Match(sc.Bytes()) {
			lines = append(lines, sc.Text())
		}
	}
	t.Logf("containerd log, alarming lines (%d, last 200):\n%s", len(lines), strings.Join(lastN(lines, 200), "\n"))
	t.Logf("containerd log (tail):\n%s", d.LogTail(16<<10))
}

func lastN(lines []string, n int) []string {
	if len(lines) > n {
		return lines[len(lines)-n:]
	}
	return lines
}
