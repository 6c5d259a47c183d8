package containerdtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
)

// logRecorder is a testing.TB that records what is logged.
type logRecorder struct {
	testing.TB
	logs []string
}

func (r *logRecorder) Logf(format string, args ...interface{}) {
	r.logs = append(r.logs, fmt.Sprintf(format, args...))
}

// A failed test's daemon log outlives the daemon's directory, and the
// output shows a shim's fatal error even when the tail has moved past it.
func TestKeepLogOnFailure(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("CONTAINERDTEST_LOG_DIR", dir)
	var log strings.Builder
	log.WriteString("time=\"x\" level=info msg=\"shim started\"\n")
	log.WriteString("fatal error: concurrent map writes\n")
	for i := 0; i < 2000; i++ {
		fmt.Fprintf(&log, "time=\"x\" level=debug msg=\"filler %d\"\n", i)
	}
	d := &ctrdaemon.Daemon{LogPath: filepath.Join(t.TempDir(), "containerd.log")}
	if err := os.WriteFile(d.LogPath, []byte(log.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := &logRecorder{TB: t}
	keepLog(rec, d)

	kept, _ := filepath.Glob(filepath.Join(dir, "containerd-TestKeepLogOnFailure-*.log"))
	if len(kept) != 1 {
		t.Fatalf("kept logs: %v, want one", kept)
	}
	if b, _ := os.ReadFile(kept[0]); string(b) != log.String() {
		t.Errorf("kept log has %d bytes, want the whole log (%d)", len(b), log.Len())
	}
	out := strings.Join(rec.logs, "\n")
	if !strings.Contains(out, "fatal error: concurrent map writes") {
		t.Errorf("the output misses the fatal error:\n%.2000s", out)
	}
	if !strings.Contains(out, kept[0]) {
		t.Errorf("the output does not say where the log is kept")
	}
}
