// Package soak runs the load a probed pod puts on its shims for weeks, in
// minutes: one pod per handler (runsc through our shim, runc through
// containerd-shim) with two app containers, exec probes into one of them
// the way kubelet sends them (crictl exec -s: ExecSync), and restarts of
// the other. Before and after, it reads each shim's files, fds, threads,
// goroutines, USS once quiet and log.json, prints them side by side and
// fails each figure that grew past its tolerance. `make soak` (cmd/soak)
// and test/soak run it.
package soak

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
)

// Config is one soak run.
type Config struct {
	// Probes is how many exec probes each handler's probed container gets.
	Probes int
	// RestartEvery restarts the pod's other app container (stop, remove,
	// create, start) after every this many probes; 0 never does.
	RestartEvery int
	// ProbeTimeout is the most a probe may take to give its result
	// (kubelet's timeoutSeconds).
	ProbeTimeout time.Duration
	// Quiet is how long the run waits after the last call before it reads
	// memory: the shim returns its free memory 2 s after its last RPC
	// (internal/memtrim).
	Quiet time.Duration
	// WarmUp is how many probes (of every kind, with the restarts) run
	// before the figures are first read. A Go shim's runtime sets up
	// metadata for each size class of object it allocates, once
	// (docs/reliability.md: about 1 MiB over a probed shim's first ~50
	// probes, ours and containerd-shim alike): a step, not growth with the
	// probes. The report shows the step; the bounds apply after it.
	WarmUp int
	// Checkpoints is how many times the probing pauses, evenly spread, to
	// read the probed containers' shims' USS once quiet: whether memory
	// levels off or keeps growing with the probes.
	Checkpoints int
	// Progress, when set, gets a line every 100 probes.
	Progress io.Writer
}

// DefaultConfig is the run `make soak` does: 100 probes of warm-up, then
// 2,000, a restart every 50, 10 s per probe.
func DefaultConfig() Config {
	return Config{Probes: 2000, WarmUp: 100, RestartEvery: 50, ProbeTimeout: 10 * time.Second, Quiet: 3 * time.Second, Checkpoints: 3}
}

// Kind is what a probe runs.
type Kind int

// The kinds of probe, in the proportions KindOf deals them.
const (
	OK      Kind = iota // `true`: exits 0
	Fails               // `false`: exits 1
	Missing             // a binary that does not exist: ExecSync fails
)

var kindNames = [...]string{OK: "ok (true)", Fails: "exit 1 (false)", Missing: "missing binary"}

// String names the kind in the report's rows.
func (k Kind) String() string { return kindNames[k] }

// argv is the probe's command.
func (k Kind) argv() []string {
	switch k {
	case Fails:
		return []string{"false"}
	case Missing:
		return []string{"/no/such/probe"}
	}
	return []string{"true"}
}

// KindOf deals the kinds in a cycle of 8: 6 ok, 1 exiting 1, 1 of a
// missing binary; 200 probes are 150, 25 and 25.
func KindOf(i int) Kind {
	switch i % 8 {
	case 3:
		return Fails
	case 7:
		return Missing
	}
	return OK
}

// missingProbes is how many of n probes KindOf makes Missing.
func missingProbes(n int) int {
	c := 0
	for i := 0; i < n; i++ {
		if KindOf(i) == Missing {
			c++
		}
	}
	return c
}

// The app containers of each pod: probed lives the whole run, restarted is
// replaced every Config.RestartEvery probes.
var (
	probedContainer    = cri.Container{Name: "probed", Command: []string{"sleep", "86400"}}
	restartedContainer = cri.Container{Name: "restarted", Command: []string{"sleep", "86400"}}
)

// Handlers are the two handlers soaked side by side: ours first.
var Handlers = []string{cri.Runsc, cri.Runc}

// handlerRun is one handler's pod and what its probes gave.
type handlerRun struct {
	handler           string
	pod               *cri.Pod
	probed, restarted string // container ids
	restarts          int
	latency           [3][]time.Duration // by Kind
	wrong             []string
	stopped           bool // after maxWrong wrong results
}

// Report is a soak run's outcome.
type Report struct {
	Config   Config
	Elapsed  time.Duration
	Rows     []Row
	Latency  map[string][3][]time.Duration // by handler, then Kind
	Restarts map[string]int
	// Curve is the probed containers' shims' USS in KiB, by handler, after
	// 0, ..., Probes probes (each read once quiet).
	Curve []CurvePoint
	// Failures are the wrong or late probe results and the figures past
	// their tolerance, one line each.
	Failures []string
}

// CurvePoint is the probed containers' shims' USS after Probes probes,
// counted from the end of the warm-up (negative: during it).
type CurvePoint struct {
	Probes    int
	USS, Anon map[string]int // KiB by handler; Anon is the part not file-backed
}

// Run starts a pod per handler on node, probes and restarts, and measures
// before and after. An error means the run could not be done; a result
// that is wrong or a figure that grew is in Report.Failures.
func Run(ctx context.Context, node *cri.Node, cfg Config) (*Report, error) {
	if cfg.Probes <= 0 || cfg.ProbeTimeout <= 0 || cfg.WarmUp < 0 || cfg.RestartEvery < 0 || cfg.Checkpoints < 0 {
		return nil, fmt.Errorf("soak: probes (%d) and probe timeout (%v) must be positive, warm-up (%d), restart interval (%d) and checkpoints (%d) not negative", cfg.Probes, cfg.ProbeTimeout, cfg.WarmUp, cfg.RestartEvery, cfg.Checkpoints)
	}
	start := time.Now()
	runs := make([]*handlerRun, len(Handlers))
	for i, h := range Handlers {
		r, err := startPod(ctx, node, h)
		if r != nil {
			defer r.pod.Remove(context.WithoutCancel(ctx))
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", h, err)
		}
		runs[i] = r
	}
	// One cycle of every kind and one restart first: what a shim sets up on
	// its first exec or first sibling (a connection to containerd's events,
	// a goroutine that serves it) is not growth.
	if err := eachHandler(runs, func(r *handlerRun) error {
		for i := 0; i < 8; i++ {
			r.probe(ctx, node, cfg, r.probed, KindOf(i), i)
		}
		if len(r.wrong) > 0 {
			return fmt.Errorf("warm-up probes: %s", r.wrong[0])
		}
		return r.restart(ctx, node, cfg)
	}); err != nil {
		return nil, err
	}
	var curve []CurvePoint
	if cfg.WarmUp > 0 {
		p, err := checkpoint(ctx, -cfg.WarmUp, runs, cfg.Quiet)
		if err != nil {
			return nil, fmt.Errorf("before the warm-up: %w", err)
		}
		curve = append(curve, p)
		warm := cfg
		warm.Progress = nil
		if err := eachHandler(runs, func(r *handlerRun) error { return r.soak(ctx, node, warm, 0, cfg.WarmUp) }); err != nil {
			return nil, fmt.Errorf("warm-up: %w", err)
		}
	}
	for _, r := range runs {
		r.latency, r.restarts = [3][]time.Duration{}, 0
	}
	before, err := measure(ctx, node, runs, cfg.Quiet)
	if err != nil {
		return nil, fmt.Errorf("before: %w", err)
	}

	curve = append(curve, probedUSS(0, before, runs))
	for seg := 0; seg <= cfg.Checkpoints; seg++ {
		from, to := cfg.Probes*seg/(cfg.Checkpoints+1), cfg.Probes*(seg+1)/(cfg.Checkpoints+1)
		if err := eachHandler(runs, func(r *handlerRun) error { return r.soak(ctx, node, cfg, from, to) }); err != nil {
			return nil, err
		}
		if seg == cfg.Checkpoints {
			break
		}
		p, err := checkpoint(ctx, to, runs, cfg.Quiet)
		if err != nil {
			return nil, fmt.Errorf("checkpoint after %d probes: %w", to, err)
		}
		curve = append(curve, p)
	}

	after, err := measure(ctx, node, runs, cfg.Quiet)
	if err != nil {
		return nil, fmt.Errorf("after: %w", err)
	}
	rep := &Report{Config: cfg, Latency: map[string][3][]time.Duration{}, Restarts: map[string]int{},
		Curve: append(curve, probedUSS(cfg.Probes, after, runs))}
	for _, r := range runs {
		rep.Latency[r.handler] = r.latency
		rep.Restarts[r.handler] = r.restarts
		for _, w := range r.wrong {
			rep.Failures = append(rep.Failures, r.handler+": "+w)
		}
	}
	rep.Rows = compare(before, after, missingProbes(cfg.Probes))
	for _, row := range rep.Rows {
		for _, f := range row.Failures {
			rep.Failures = append(rep.Failures, row.Subject+", "+row.Figure+": "+f)
		}
	}
	rep.Elapsed = time.Since(start)
	return rep, nil
}

// eachHandler runs f for every handler at once (the soak takes half the
// time, and both shims see the same probes over the same minutes).
func eachHandler(runs []*handlerRun, f func(*handlerRun) error) error {
	errs := make([]error, len(runs))
	var wg sync.WaitGroup
	for i, r := range runs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(r); err != nil {
				errs[i] = fmt.Errorf("%s: %w", r.handler, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func startPod(ctx context.Context, node *cri.Node, handler string) (*handlerRun, error) {
	pod, err := node.RunPod(ctx, handler, "soak")
	if err != nil {
		return nil, err
	}
	r := &handlerRun{handler: handler, pod: pod}
	if r.probed, err = pod.Run(ctx, probedContainer); err != nil {
		return r, err
	}
	if r.restarted, err = pod.Run(ctx, restartedContainer); err != nil {
		return r, err
	}
	return r, nil
}

// maxWrong ends a handler's probing after this many wrong or late results:
// each hung probe costs a ProbeTimeout, and a few show the fault.
const maxWrong = 5

// soak runs probes from to to (of cfg.Probes) into the probed container,
// restarting the other one every cfg.RestartEvery.
func (r *handlerRun) soak(ctx context.Context, node *cri.Node, cfg Config, from, to int) error {
	for i := from; i < to && !r.stopped; i++ {
		r.probe(ctx, node, cfg, r.probed, KindOf(i), i)
		if len(r.wrong) >= maxWrong {
			r.wrong = append(r.wrong, fmt.Sprintf("stopped after probe %d of %d: %d wrong results", i+1, cfg.Probes, len(r.wrong)))
			r.stopped = true
			return nil
		}
		if cfg.RestartEvery > 0 && (i+1)%cfg.RestartEvery == 0 {
			if err := r.restart(ctx, node, cfg); err != nil {
				return fmt.Errorf("restart after probe %d: %w", i+1, err)
			}
		}
		if cfg.Progress != nil && (i+1)%100 == 0 {
			fmt.Fprintf(cfg.Progress, "%s: %d/%d probes, %d restarts\n", r.handler, i+1, cfg.Probes, r.restarts)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
	return nil
}

// crictlExitCode finds the exit code crictl v1.37 names when the command
// it ran exited non-zero.
var crictlExitCode = regexp.MustCompile(`(?:exited with|terminated with exit code) (\d+)`)

// probe runs one probe as kubelet does (ExecSync with the probe's
// timeout) and records a result that is wrong or later than
// cfg.ProbeTimeout, and its latency unless i, its number, is negative (the
// probe after a restart). crictl is given 5 s more, to tell a late result from
// none.
func (r *handlerRun) probe(ctx context.Context, node *cri.Node, cfg Config, id string, kind Kind, i int) {
	pctx, cancel := context.WithTimeout(ctx, cfg.ProbeTimeout+5*time.Second)
	defer cancel()
	args := append([]string{"exec", "-s", "--timeout", strconv.Itoa(int(cfg.ProbeTimeout / time.Second)), id}, kind.argv()...)
	t0 := time.Now()
	_, stderr, err := node.CrictlOutput(pctx, args...)
	took := time.Since(t0)
	if i >= 0 {
		r.latency[kind] = append(r.latency[kind], took)
	}
	code := 0
	if err != nil {
		code = -1 // crictl failed without naming an exit code
		var ee *exec.ExitError
		if m := crictlExitCode.FindSubmatch(stderr); errors.As(err, &ee) && m != nil {
			code, _ = strconv.Atoi(string(m[1]))
		}
	}
	var wrong string
	switch {
	case pctx.Err() != nil:
		wrong = fmt.Sprintf("no result in %v", cfg.ProbeTimeout+5*time.Second)
	case took > cfg.ProbeTimeout:
		wrong = fmt.Sprintf("result after %v, past the %v timeout", took.Round(time.Millisecond), cfg.ProbeTimeout)
	case kind == OK && code != 0, kind == Fails && code != 1:
		wrong = fmt.Sprintf("exit code %d (crictl: %v: %.200s)", code, err, stderr)
	case kind == Missing && err == nil:
		wrong = "succeeded"
	}
	if wrong != "" {
		r.wrong = append(r.wrong, fmt.Sprintf("probe %d (%s) of %s: %s", i, kind, id, wrong))
	}
}

// restart replaces the restarted container as kubelet does after a failed
// liveness probe (stop, remove, create, start) and probes the new one once.
func (r *handlerRun) restart(ctx context.Context, node *cri.Node, cfg Config) error {
	if _, err := node.Crictl(ctx, "stop", "-t", "0", r.restarted); err != nil {
		return err
	}
	if _, err := node.Crictl(ctx, "rm", r.restarted); err != nil {
		return err
	}
	id, err := r.pod.Run(ctx, restartedContainer)
	if err != nil {
		return err
	}
	r.restarted = id
	r.restarts++
	n := len(r.wrong)
	r.probe(ctx, node, cfg, id, OK, -1)
	if len(r.wrong) > n {
		return fmt.Errorf("probe of the restarted container: %s", r.wrong[n])
	}
	return nil
}

// The shims of a handler's pod.
const (
	roleSandbox   = "pod sandbox's shim"
	roleProbed    = "probed container's shim"
	roleRestarted = "restarted container's shim"
)

var roles = []string{roleSandbox, roleProbed, roleRestarted}

// shimFigures are one shim's figures at one time.
type shimFigures struct {
	pid, fds, threads, goroutines, ussKiB, anonKiB int
	stateFiles, workFiles                          int   // under containerd's state/root dirs, in dirs named after its container
	logJSON                                        int64 // bytes of the bundle's log.json; -1: none
}

// snapshot is every figure at one time.
type snapshot struct {
	shims       map[string]map[string]shimFigures // handler, role
	runtimeRoot map[string]int                    // files under each handler's runtime root
	state, root int                               // every file under containerd's state and root dirs
}

// v1Namespace is the namespace CRI's containers live in.
const v1Namespace = "k8s.io"

// measure waits quiet, then reads every shim's /proc first (a goroutine
// dump allocates), its files, and last its goroutines.
func measure(ctx context.Context, node *cri.Node, runs []*handlerRun, quiet time.Duration) (*snapshot, error) {
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-time.After(quiet):
	}
	s := &snapshot{shims: map[string]map[string]shimFigures{}, runtimeRoot: map[string]int{}}
	ids := map[string]string{}
	var allIDs []string
	procs := cri.Processes()
	for _, r := range runs {
		s.shims[r.handler] = map[string]shimFigures{}
		for _, role := range roles {
			id := map[string]string{roleSandbox: r.pod.ID, roleProbed: r.probed, roleRestarted: r.restarted}[role]
			pid, err := shimPid(procs, id)
			if err != nil {
				return nil, fmt.Errorf("%s %s: %w", r.handler, role, err)
			}
			f, err := readProc(pid)
			if err != nil {
				return nil, err
			}
			ids[r.handler+role] = id
			allIDs = append(allIDs, id)
			s.shims[r.handler][role] = shimFigures{pid: pid, fds: f.fds, threads: f.threads, ussKiB: f.ussKiB, anonKiB: f.anonKiB,
				logJSON: fileSize(filepath.Join(node.Daemon.Dir, "state", "io.containerd.runtime.v1.linux", v1Namespace, id, "log.json"))}
		}
	}
	var stateByID, rootByID map[string]int
	var err error
	if s.state, stateByID, err = countFiles(filepath.Join(node.Daemon.Dir, "state"), allIDs); err != nil {
		return nil, err
	}
	if s.root, rootByID, err = countFiles(filepath.Join(node.Daemon.Dir, "root"), allIDs); err != nil {
		return nil, err
	}
	for _, r := range runs {
		if s.runtimeRoot[r.handler], _, err = countFiles(node.RuntimeRoot(r.handler), nil); err != nil {
			return nil, err
		}
		for _, role := range roles {
			f := s.shims[r.handler][role]
			f.stateFiles, f.workFiles = stateByID[ids[r.handler+role]], rootByID[ids[r.handler+role]]
			if f.goroutines, err = countGoroutines(ctx, f.pid, node.Daemon.LogPath); err != nil {
				return nil, err
			}
			s.shims[r.handler][role] = f
		}
	}
	return s, nil
}

// probedUSS is the curve's point of a full snapshot.
func probedUSS(probes int, s *snapshot, runs []*handlerRun) CurvePoint {
	p := CurvePoint{Probes: probes, USS: map[string]int{}, Anon: map[string]int{}}
	for _, r := range runs {
		f := s.shims[r.handler][roleProbed]
		p.USS[r.handler], p.Anon[r.handler] = f.ussKiB, f.anonKiB
	}
	return p
}

// checkpoint waits quiet and reads the probed containers' shims' USS.
func checkpoint(ctx context.Context, probes int, runs []*handlerRun, quiet time.Duration) (CurvePoint, error) {
	p := CurvePoint{Probes: probes, USS: map[string]int{}, Anon: map[string]int{}}
	select {
	case <-ctx.Done():
		return p, ctx.Err()
	case <-time.After(quiet):
	}
	procs := cri.Processes()
	for _, r := range runs {
		pid, err := shimPid(procs, r.probed)
		if err != nil {
			return p, err
		}
		f, err := readProc(pid)
		if err != nil {
			return p, err
		}
		p.USS[r.handler], p.Anon[r.handler] = f.ussKiB, f.anonKiB
	}
	return p, nil
}

// shimPid finds the shim of container id: containerd starts it with the
// container's work directory, which ends in the id.
func shimPid(procs map[int][]string, id string) (int, error) {
	for pid, argv := range procs {
		for i, a := range argv {
			if a == "-workdir" && i+1 < len(argv) && filepath.Base(argv[i+1]) == id {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no shim for container %s", id)
}

// latencyQuantile is the q quantile of ds (nearest rank); 0 when empty.
func latencyQuantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[int(q*float64(len(s)-1))]
}
