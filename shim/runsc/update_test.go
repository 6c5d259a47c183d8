package runsc

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// fakeUpdateRunsc is a runsc whose `help update` runs helpScript; it
// counts those probes in dir/probes and keeps what update got: its
// arguments in dir/args, its stdin in dir/stdin.
func fakeUpdateRunsc(t *testing.T, helpScript string) (*Runsc, string) {
	t.Helper()
	dir := t.TempDir()
	r := fakeRunsc(t, `d=`+dir+`
if [ "$1" = help ]; then echo probe >> $d/probes; `+helpScript+`; fi
shift 7; echo "$@" > $d/args; cat > $d/stdin`)
	return r, dir
}

func probes(t *testing.T, dir string) int {
	b, _ := os.ReadFile(filepath.Join(dir, "probes"))
	return strings.Count(string(b), "probe")
}

// Update hands runsc the resources as JSON on stdin, and asks the binary
// whether it has update only once.
func TestUpdateSendsResourcesOnStdin(t *testing.T) {
	r, dir := fakeUpdateRunsc(t, `exit 0`)
	limit := int64(64 << 20)
	for i := 0; i < 2; i++ {
		if err := r.Update(context.Background(), "c1", &specs.LinuxResources{Memory: &specs.LinuxMemory{Limit: &limit}}); err != nil {
			t.Fatalf("update %d: %v", i, err)
		}
	}
	args, _ := os.ReadFile(filepath.Join(dir, "args"))
	if got := strings.TrimSpace(string(args)); got != "update --resources - c1" {
		t.Errorf("runsc ran %q, want update --resources - c1", got)
	}
	var got specs.LinuxResources
	stdin, _ := os.ReadFile(filepath.Join(dir, "stdin"))
	if err := json.Unmarshal(stdin, &got); err != nil || got.Memory == nil || got.Memory.Limit == nil || *got.Memory.Limit != limit {
		t.Errorf("runsc got %q on stdin (%v), want the memory limit %d", stdin, err, limit)
	}
	if n := probes(t, dir); n != 1 {
		t.Errorf("runsc asked %d times whether it has update, want once", n)
	}
}

// A runsc without update (Debian's 2022 one: "Subcommand update not
// understood", exit 128) gets NotImplemented saying so, asked once.
func TestUpdateWithoutCommandIsNotImplemented(t *testing.T) {
	r, dir := fakeUpdateRunsc(t, `echo 'Subcommand update not understood' >&2; exit 128`)
	for i := 0; i < 2; i++ {
		err := r.Update(context.Background(), "c1", &specs.LinuxResources{})
		if !errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "has no update command") || strings.Contains(err.Error(), "\n") {
			t.Fatalf("update %d: %v, want a one-line NotImplemented", i, err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "args")); err == nil {
		t.Error("runsc update ran")
	}
	if n := probes(t, dir); n != 1 {
		t.Errorf("runsc asked %d times whether it has update, want once", n)
	}
}

// A probe that fails for another reason is an error, and is asked again
// next time rather than remembered.
func TestUpdateProbeFailureIsNotRemembered(t *testing.T) {
	r, dir := fakeUpdateRunsc(t, `echo 'cannot read config' >&2; exit 2`)
	for i := 0; i < 2; i++ {
		err := r.Update(context.Background(), "c1", &specs.LinuxResources{})
		if err == nil || errdefs.IsNotImplemented(err) || !strings.Contains(err.Error(), "cannot read config") {
			t.Fatalf("update %d: %v, want the probe's failure", i, err)
		}
	}
	if n := probes(t, dir); n != 2 {
		t.Errorf("runsc asked %d times, want every time (2)", n)
	}
}

// With the real runsc: whether it has update matches its own help.
func TestHasUpdateMatchesRunsc(t *testing.T) {
	requireRunsc(t)
	r, _ := newTest(t, "")
	has, err := r.hasUpdate(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out, _ := r.command(context.Background(), "help").CombinedOutput()
	if want := strings.Contains(string(out), "\tupdate "); has != want {
		t.Fatalf("hasUpdate = %v; runsc help lists update: %v\n%s", has, want, out)
	}
}
