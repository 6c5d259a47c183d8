package soak

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestKindOfDealsTheShortRun(t *testing.T) {
	var got [3]int
	for i := 0; i < 200; i++ {
		got[KindOf(i)]++
	}
	if got != [3]int{150, 25, 25} || missingProbes(200) != 25 {
		t.Errorf("200 probes deal %v (missing %d), want [150 25 25]", got, missingProbes(200))
	}
}

func TestCountFilesByID(t *testing.T) {
	root := t.TempDir()
	for _, p := range []string{"a/ctr-1/log.json", "a/ctr-1/exec.pid", "b/ctr-1/x/y", "a/ctr-12/z", "top"} {
		if err := os.MkdirAll(filepath.Join(root, filepath.Dir(p)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(root, p), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	total, byID, err := countFiles(root, []string{"ctr-1", "ctr-12", "none"})
	if err != nil {
		t.Fatal(err)
	}
	if total != 5 || byID["ctr-1"] != 3 || byID["ctr-12"] != 1 || byID["none"] != 0 {
		t.Errorf("countFiles: total %d, by id %v; want 5, ctr-1 3, ctr-12 1", total, byID)
	}
	if total, _, err := countFiles(filepath.Join(root, "gone"), nil); err != nil || total != 0 {
		t.Errorf("a missing root: %d, %v; want 0, nil", total, err)
	}
}

// snap is a snapshot with every shim of both handlers given the same
// figures, and node-wide counts of files.
func snap(f shimFigures, files int) *snapshot {
	s := &snapshot{shims: map[string]map[string]shimFigures{}, runtimeRoot: map[string]int{}, state: files, root: files}
	for _, h := range Handlers {
		s.shims[h] = map[string]shimFigures{}
		for _, r := range roles {
			s.shims[h][r] = f
		}
		s.runtimeRoot[h] = files
	}
	return s
}

func failures(rows []Row) []string {
	var out []string
	for _, r := range rows {
		for _, f := range r.Failures {
			out = append(out, r.Subject+"/"+r.Figure+": "+f)
		}
	}
	return out
}

func TestCompareTolerances(t *testing.T) {
	base := shimFigures{fds: 10, threads: 7, goroutines: 9, ussKiB: 2000, stateFiles: 5, workFiles: 3, logJSON: 100}
	if f := failures(compare(snap(base, 50), snap(base, 50), 25)); len(f) != 0 {
		t.Errorf("nothing grew, yet: %v", f)
	}
	grown := base
	grown.threads += threadSlack
	grown.logJSON += 25 * logBytesPerFailure
	if f := failures(compare(snap(base, 50), snap(grown, 50), 25)); len(f) != 0 {
		t.Errorf("growth within the slack failed: %v", f)
	}
	for name, c := range map[string]struct {
		grow func(*shimFigures)
		want string
	}{
		"fd":        {func(f *shimFigures) { f.fds++ }, "open fds"},
		"goroutine": {func(f *shimFigures) { f.goroutines++ }, "goroutines"},
		"file":      {func(f *shimFigures) { f.stateFiles++ }, "files in state dir"},
		"threads":   {func(f *shimFigures) { f.threads += threadSlack + 1 }, "threads"},
		"log":       {func(f *shimFigures) { f.logJSON += 25*logBytesPerFailure + 1 }, "log.json"},
	} {
		g := base
		c.grow(&g)
		f := failures(compare(snap(base, 50), snap(g, 50), 25))
		// Every role of both handlers.
		if len(f) != len(roles)*len(Handlers) || !strings.Contains(f[0], c.want) {
			t.Errorf("%s grew: failures %v, want one per role and handler naming %q", name, f, c.want)
		}
	}
	if f := failures(compare(snap(base, 50), snap(base, 51), 25)); len(f) != 4 {
		t.Errorf("one more file in each tree: %v, want both runtime roots, state and root", f)
	}
}

// Our USS may grow as much as containerd-shim's did, plus the slack.
func TestCompareUSSAgainstContainerdShim(t *testing.T) {
	base := shimFigures{ussKiB: 2000}
	after := snap(base, 0)
	set := func(h string, kib int) {
		for _, r := range roles {
			f := after.shims[h][r]
			f.ussKiB = kib
			after.shims[h][r] = f
		}
	}
	set(Handlers[1], 2600)
	set(Handlers[0], 2600+ussSlackKiB)
	if f := failures(compare(snap(base, 0), after, 0)); len(f) != 0 {
		t.Errorf("ours grew as much as containerd-shim's plus the slack: %v", f)
	}
	set(Handlers[0], 2600+ussSlackKiB+1)
	// The restarted container's shim is another process after: not judged.
	if f := failures(compare(snap(base, 0), after, 0)); len(f) != 2 || !strings.Contains(f[0], "USS") {
		t.Errorf("ours grew 1 KiB more: %v, want the sandbox's and the probed container's shims", f)
	}
	set(Handlers[1], 1000) // containerd-shim shrank: ours may still grow the slack
	set(Handlers[0], 2000+ussSlackKiB)
	if f := failures(compare(snap(base, 0), after, 0)); len(f) != 0 {
		t.Errorf("containerd-shim's shrank, ours grew the slack: %v", f)
	}
}
