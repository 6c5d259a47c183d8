package soak

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// Tolerances. Files, fds and goroutines must come back to exactly where
// they were: the run measures after a warm-up, once every probe has been
// answered, so anything more is something a probe or a restart left.
const (
	// threadSlack: Go starts an OS thread when every thread is blocked in
	// a syscall and keeps it; two concurrent calls can add one.
	threadSlack = 2
	// ussSlackKiB is how much more our shim's USS may grow than
	// containerd-shim's over the same probes: a few pages of heap and
	// stack that a goroutine dump or the last GC cycle left resident.
	ussSlackKiB = 256
	// logBytesPerFailure bounds log.json's growth: the runtime (runsc, runc)
	// logs one error line per exec it could not start (about 200 bytes
	// either way); nothing else a probe does should reach it.
	logBytesPerFailure = 512
)

// Row is one figure of one subject (a shim, a directory) before and after,
// per handler ("" for a node-wide figure).
type Row struct {
	Subject, Figure string
	Before, After   map[string]int64
	Tolerance       string
	Failures        []string
}

// Growth is after minus before for handler.
func (r Row) Growth(handler string) int64 { return r.After[handler] - r.Before[handler] }

// compare builds the rows and checks each against its tolerance; failed
// is how many probes could not start their exec (a missing binary).
func compare(before, after *snapshot, failed int) []Row {
	var rows []Row
	ours, theirs := Handlers[0], Handlers[1]
	perHandler := func(subject, figure, tolerance string, get func(*snapshot, string) int64, check func(Row, string) string) {
		row := Row{Subject: subject, Figure: figure, Before: map[string]int64{}, After: map[string]int64{}, Tolerance: tolerance}
		for _, h := range Handlers {
			row.Before[h], row.After[h] = get(before, h), get(after, h)
		}
		for _, h := range Handlers {
			if check == nil {
				continue
			}
			if f := check(row, h); f != "" {
				row.Failures = append(row.Failures, h+": "+f)
			}
		}
		rows = append(rows, row)
	}
	atMost := func(slack int64) func(Row, string) string {
		return func(r Row, h string) string {
			if g := r.Growth(h); g > slack {
				return fmt.Sprintf("grew %d (%d -> %d), more than %d", g, r.Before[h], r.After[h], slack)
			}
			return ""
		}
	}
	// Our shim's growth against containerd-shim's over the same probes.
	noMoreThanTheirs := func(slack int64) func(Row, string) string {
		return func(r Row, h string) string {
			if h != ours {
				return ""
			}
			allowed := max(r.Growth(theirs), 0) + slack
			if g := r.Growth(ours); g > allowed {
				return fmt.Sprintf("grew %d (%d -> %d); containerd-shim's grew %d; allowed %d", g, r.Before[ours], r.After[ours], r.Growth(theirs), allowed)
			}
			return ""
		}
	}
	for _, role := range roles {
		fig := func(f func(shimFigures) int64) func(*snapshot, string) int64 {
			return func(s *snapshot, h string) int64 { return f(s.shims[h][role]) }
		}
		perHandler(role, "files in state dir", "exact", fig(func(f shimFigures) int64 { return int64(f.stateFiles) }), atMost(0))
		perHandler(role, "files in work dir", "exact", fig(func(f shimFigures) int64 { return int64(f.workFiles) }), atMost(0))
		perHandler(role, "open fds", "exact", fig(func(f shimFigures) int64 { return int64(f.fds) }), atMost(0))
		perHandler(role, "goroutines", "exact", fig(func(f shimFigures) int64 { return int64(f.goroutines) }), atMost(0))
		perHandler(role, "threads", fmt.Sprintf("+%d", threadSlack), fig(func(f shimFigures) int64 { return int64(f.threads) }), atMost(threadSlack))
		uss := fig(func(f shimFigures) int64 { return int64(f.ussKiB) })
		if role == roleRestarted {
			// Before and after are different processes: no growth to judge.
			perHandler(role, "USS KiB", "(other process)", uss, nil)
		} else {
			perHandler(role, "USS KiB", fmt.Sprintf("ours <= containerd-shim's +%d", ussSlackKiB), uss, noMoreThanTheirs(ussSlackKiB))
		}
		perHandler(role, "USS not file-backed KiB", "(part of USS)", fig(func(f shimFigures) int64 { return int64(f.anonKiB) }), nil)
		perHandler(role, "log.json bytes", fmt.Sprintf("%d per missing-binary probe", logBytesPerFailure), fig(func(f shimFigures) int64 { return f.logJSON }), atMost(int64(logBytesPerFailure*failed)))
	}
	perHandler("runtime root", "files", "exact", func(s *snapshot, h string) int64 { return int64(s.runtimeRoot[h]) }, atMost(0))
	node := func(subject string, get func(*snapshot) int) {
		row := Row{Subject: subject, Figure: "files", Tolerance: "exact",
			Before: map[string]int64{"": int64(get(before))}, After: map[string]int64{"": int64(get(after))}}
		if f := atMost(0)(row, ""); f != "" {
			row.Failures = append(row.Failures, f)
		}
		rows = append(rows, row)
	}
	node("containerd state dir (both pods)", func(s *snapshot) int { return s.state })
	node("containerd root dir (both pods)", func(s *snapshot) int { return s.root })
	return rows
}

// handlerLabel names a handler's column by the shim that serves it.
func handlerLabel(h string) string {
	if h == cri.Runc {
		return "runc: containerd-shim"
	}
	return "runsc: ours"
}

// Print writes the run's settings, probe latencies, the figures' table
// (markdown) and the failures.
func (r *Report) Print(w io.Writer) {
	c := r.Config
	var kinds [3]int
	for i := 0; i < c.Probes; i++ {
		kinds[KindOf(i)]++
	}
	fmt.Fprintf(w, "\n%d exec probes per handler (crictl exec -s: %d true, %d false, %d of a missing binary) after %d of warm-up, a restart of the other app container every %d probes; both pods at once; figures read %v after the last call; %v in all\n\n",
		c.Probes, kinds[OK], kinds[Fails], kinds[Missing], c.WarmUp, c.RestartEvery, c.Quiet, r.Elapsed.Round(time.Second))
	fmt.Fprintln(w, "| probe | handler | count | p50 | p99 | max |\n|---|---|---|---|---|---|")
	for _, h := range Handlers {
		for k := OK; k <= Missing; k++ {
			ds := r.Latency[h][k]
			fmt.Fprintf(w, "| %s | %s | %d | %v | %v | %v |\n", k, handlerLabel(h), len(ds),
				latencyQuantile(ds, 0.5).Round(time.Millisecond), latencyQuantile(ds, 0.99).Round(time.Millisecond), latencyQuantile(ds, 1).Round(time.Millisecond))
		}
	}
	fmt.Fprintf(w, "\nrestarts: %s %d, %s %d\n\n", handlerLabel(Handlers[0]), r.Restarts[Handlers[0]], handlerLabel(Handlers[1]), r.Restarts[Handlers[1]])
	fmt.Fprintf(w, "| probed container's shim, once quiet | %s USS (not file-backed) KiB | %s USS (not file-backed) KiB |\n|---|---|---|\n", handlerLabel(Handlers[0]), handlerLabel(Handlers[1]))
	for _, p := range r.Curve {
		label := fmt.Sprintf("after %d probes", p.Probes)
		switch {
		case p.Probes < 0:
			label = fmt.Sprintf("before the warm-up (%d probes)", -p.Probes)
		case p.Probes == 0 && c.WarmUp > 0:
			label = "after the warm-up: before"
		}
		fmt.Fprintf(w, "| %s | %d (%d) | %d (%d) |\n", label, p.USS[Handlers[0]], p.Anon[Handlers[0]], p.USS[Handlers[1]], p.Anon[Handlers[1]])
	}
	fmt.Fprintf(w, "\n| subject | figure | %s | %s | tolerance | |\n|---|---|---|---|---|---|\n", handlerLabel(Handlers[0]), handlerLabel(Handlers[1]))
	cell := func(row Row, h string) string {
		b, a := row.Before[h], row.After[h]
		return fmt.Sprintf("%d -> %d (%+d)", b, a, a-b)
	}
	for _, row := range r.Rows {
		verdict := "ok"
		if len(row.Failures) > 0 {
			verdict = "**FAIL**"
		} else if strings.HasPrefix(row.Tolerance, "(") {
			verdict = ""
		}
		if _, node := row.Before[""]; node {
			fmt.Fprintf(w, "| %s | %s | %s (both) | | %s | %s |\n", row.Subject, row.Figure, cell(row, ""), row.Tolerance, verdict)
			continue
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", row.Subject, row.Figure, cell(row, Handlers[0]), cell(row, Handlers[1]), row.Tolerance, verdict)
	}
	if len(r.Failures) == 0 {
		fmt.Fprintln(w, "\nPASS: every probe gave the right result in time, and no figure grew past its tolerance")
		return
	}
	fmt.Fprintf(w, "\nFAIL: %d\n", len(r.Failures))
	for _, f := range r.Failures {
		fmt.Fprintln(w, "  "+f)
	}
}
