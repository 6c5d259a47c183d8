package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd"
	eventstypes "github.com/containerd/containerd/api/events"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/events"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	"github.com/containerd/typeurl"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/internal/procmem"
	rootfsbuild "github.com/google/gvisor-containerd-shim/internal/rootfs"
	"github.com/google/gvisor-containerd-shim/internal/stats"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// BurstReport is the -json output of `publish-bench burst`.
type BurstReport struct {
	Schema  string        `json:"schema"`
	Started time.Time     `json:"started"`
	Machine Machine       `json:"machine"`
	Config  BurstConfig   `json:"config"`
	Shims   []BurstResult `json:"shims"`
}

// BurstConfig is how the run was made.
type BurstConfig struct {
	Shim   string `json:"shim"`
	Procs  []int  `json:"procs"` // GOMAXPROCS settings compared; 1 is the default, no max_procs
	Execs  int    `json:"execs"` // concurrent execs per burst
	Rounds int    `json:"rounds"`
	// KillInit: the container's init was SIGKILLed after each burst's last
	// exit, and the container replaced.
	KillInit bool `json:"kill_init"`
	// KillAfter: execs that had exited when the init was killed; the
	// others were ended by the kill (0: all had exited).
	KillAfter int `json:"kill_after"`
}

// BurstResult is one shim setting's figures over every round.
type BurstResult struct {
	MaxProcs int    `json:"max_procs"`
	Setting  string `json:"setting"` // what the shim's -config says
	Execs    int    `json:"execs"`   // started, over the rounds
	Exited   int    `json:"exited"`  // exits seen by Wait with status 0
	Events   int    `json:"events"`  // TaskExit events seen for the execs
	// LostExits: Wait gave no exit within -timeout; LostEvents: no TaskExit
	// for an exec within -timeout of its exit; Failed: an RPC error or a
	// non-zero exit status.
	// Killed: execs ended by -kill-init with -kill-after (an RPC error or
	// a non-zero status after the kill), not counted as failed.
	Killed     int    `json:"killed"`
	LostExits  int    `json:"lost_exits"`
	LostEvents int    `json:"lost_events"`
	Failed     int    `json:"failed"`
	FirstError string `json:"first_error,omitempty"`
	// From the Exec call to the exit (Wait returns), and to the TaskExit
	// event reaching a subscriber of the daemon.
	ExitLatency  LatencyStats `json:"exit_latency"`
	EventLatency LatencyStats `json:"event_latency"`
	// EventLag: the TaskExit's arrival minus the exit's, per exec; the
	// shim's publisher trailing its Wait RPC (negative: the event came
	// first).
	EventLag LatencyStats `json:"event_lag"`
	// BurstMS: wall clock of a burst, the first Exec call to the last
	// exec's Delete; median and most over the rounds.
	BurstMSMedian float64 `json:"burst_ms_median"`
	BurstMSMax    float64 `json:"burst_ms_max"`
	// The shim's own CPU over a burst (schedstat of its threads), and that
	// of the children it reaped meanwhile (runsc exec and runsc wait:
	// /proc/<pid>/stat's cutime+cstime, 10 ms ticks); medians over rounds.
	ShimCPUMSMedian     float64 `json:"shim_cpu_ms_median"`
	ShimCPUMSMax        float64 `json:"shim_cpu_ms_max"`
	ChildrenCPUMSMedian float64 `json:"children_cpu_ms_median"`
	Threads             int     `json:"threads"` // the shim's at the end of the last burst (before any kill)
	// With -kill-init, from the Kill call to the init's exit (Wait) and to
	// its TaskExit at the subscriber: a container exiting while the
	// burst's TaskExits may still be queued in its shim.
	InitExitLatency  *LatencyStats `json:"init_exit_latency,omitempty"`
	InitEventLatency *LatencyStats `json:"init_event_latency,omitempty"`
}

const (
	burstNamespace = "burst"
	burstSchema    = "publish-bench-burst/1"
)

type burstOptions struct {
	shim      string
	procs     []int
	execs     int
	rounds    int
	timeout   time.Duration
	json      string
	quiet     bool
	killInit  bool
	killAfter int
}

func parseBurstOptions(args []string) (*burstOptions, error) {
	o := &burstOptions{}
	fs := flag.NewFlagSet("publish-bench burst", flag.ContinueOnError)
	fs.StringVar(&o.shim, "shim", "", "gvisor-containerd-shim binary to measure (make build; bin/gvisor-containerd-shim)")
	procs := fs.String("procs", "1,2", "GOMAXPROCS settings to compare, comma-separated, one container and shim each; 1 is the default (no max_procs), others go in the shim's -config as [shim] max_procs")
	fs.IntVar(&o.execs, "execs", 20, "execs of /bin/true started at once per burst")
	fs.IntVar(&o.rounds, "rounds", 10, "bursts per setting; the settings alternate, their order rotating")
	fs.DurationVar(&o.timeout, "timeout", time.Minute, "an exit or TaskExit not seen this long after its burst started counts as lost")
	fs.StringVar(&o.json, "json", "", "write the figures to this JSON file")
	fs.BoolVar(&o.quiet, "quiet", false, "no line per burst on stderr")
	fs.BoolVar(&o.killInit, "kill-init", false, "after each burst's last exit, SIGKILL the container's init and time its exit and TaskExit (its shim may still be sending the burst's); the container is replaced for the next burst")
	fs.IntVar(&o.killAfter, "kill-after", 0, "with -kill-init, kill once this many execs have exited, while the others run (they end with the container); 0: all")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	switch {
	case o.shim == "":
		return nil, fmt.Errorf("-shim is required: the gvisor-containerd-shim binary to measure")
	case o.execs < 1:
		return nil, fmt.Errorf("-execs must be at least 1, not %d", o.execs)
	case o.rounds < 1:
		return nil, fmt.Errorf("-rounds must be at least 1, not %d", o.rounds)
	case o.timeout <= 0:
		return nil, fmt.Errorf("-timeout must be positive")
	case o.killAfter < 0 || o.killAfter > o.execs:
		return nil, fmt.Errorf("-kill-after must be between 0 and -execs (%d), not %d", o.execs, o.killAfter)
	case o.killAfter > 0 && !o.killInit:
		return nil, fmt.Errorf("-kill-after needs -kill-init")
	}
	for _, f := range strings.Split(*procs, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("-procs: %q is not a number of Ps (1 or more)", f)
		}
		for _, seen := range o.procs {
			if seen == n {
				return nil, fmt.Errorf("-procs: %d given twice", n)
			}
		}
		o.procs = append(o.procs, n)
	}
	if len(o.procs) == 0 {
		return nil, fmt.Errorf("-procs: no setting given")
	}
	var err error
	if o.shim, err = resolveBinary(o.shim); err != nil {
		return nil, fmt.Errorf("-shim: %w", err)
	}
	return o, nil
}

// shimSetting is the -config a shim with maxProcs Ps runs with. One P is
// what ships: the shim is given no max_procs then, so the run measures the
// default rather than the setting.
func shimSetting(maxProcs int) string {
	// The containers have no network namespace of their own, where runsc
	// refuses its default network.
	cfg := "[runsc_config]\n  network = \"none\"\n"
	if maxProcs != 1 {
		cfg += fmt.Sprintf("[shim]\n  max_procs = %d\n", maxProcs)
	}
	return cfg
}

// burst measures whether the shim's one P slows it down when much is asked
// of it at once: for each GOMAXPROCS setting, one runsc container through
// its own throwaway containerd, then -execs execs of /bin/true started
// together, as a node's many exec probes of one container are; the
// settings alternate burst by burst.
func burst(ctx context.Context, args []string, stdout io.Writer) (*BurstReport, error) {
	o, err := parseBurstOptions(args)
	if err != nil {
		return nil, err
	}
	rep := &BurstReport{Schema: burstSchema, Started: time.Now().UTC(), Machine: machineInfo(),
		Config: BurstConfig{Shim: o.shim, Procs: o.procs, Execs: o.execs, Rounds: o.rounds, KillInit: o.killInit, KillAfter: o.killAfter}}
	ctx = namespaces.WithNamespace(ctx, burstNamespace)
	var targets []*burstTarget
	defer func() {
		for _, t := range targets {
			t.close()
		}
	}()
	for _, n := range o.procs {
		t, err := startBurstTarget(ctx, o.shim, n)
		if err != nil {
			return nil, fmt.Errorf("max_procs %d: %w", n, err)
		}
		targets = append(targets, t)
		rep.Machine.ContainerdVersion = daemonVersion(t.daemon.Address)
	}
	for round := 0; round < o.rounds; round++ {
		for i := range targets {
			t := targets[(round+i)%len(targets)]
			if err := ctx.Err(); err != nil {
				return nil, fmt.Errorf("interrupted: %w", err)
			}
			b, err := t.burst(ctx, fmt.Sprintf("r%d", round), o.execs, o.timeout, o.killInit, o.killAfter)
			if err == nil && o.killInit {
				err = t.replaceContainer(ctx)
			}
			if err != nil {
				return nil, fmt.Errorf("max_procs %d, round %d: %w", t.maxProcs, round+1, err)
			}
			if !o.quiet {
				fmt.Fprintf(os.Stderr, "round %d/%d max_procs %d: burst %.0f ms, shim CPU %.1f ms, exit p50 %.0f ms, load %.2f\n",
					round+1, o.rounds, t.maxProcs, ms(b.wall), ms(b.shimCPU), ms(stats.Median(b.exits)), loadAvg()[0])
			}
		}
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	for _, t := range targets {
		rep.Shims = append(rep.Shims, t.result())
	}
	if o.json != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(o.json, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	printBurst(stdout, rep)
	for _, s := range rep.Shims {
		if s.LostExits+s.LostEvents+s.Failed > 0 {
			return rep, fmt.Errorf("max_procs %d: %d exits lost, %d events lost, %d failed (first: %s); the figures above are not comparable",
				s.MaxProcs, s.LostExits, s.LostEvents, s.Failed, s.FirstError)
		}
	}
	return rep, nil
}

// burstTarget is one shim setting: its daemon, its one container, the
// TaskExit events a subscriber sees and every burst's samples.
type burstTarget struct {
	maxProcs  int
	shim      string
	rootfs    string
	daemon    *ctrdaemon.Daemon
	client    *containerd.Client
	container containerd.Container
	task      containerd.Task
	initWait  <-chan containerd.ExitStatus
	process   *specs.Process // the execs': the container's, running /bin/true
	shimPid   int
	started   int                // containers started so far, for their ids
	cancel    context.CancelFunc // ends the subscription

	mu     sync.Mutex
	events map[string]int64         // exec or container id → CLOCK_MONOTONIC of its TaskExit's arrival
	seen   map[string]chan struct{} // exec or container id → closed on arrival

	execs, exited, failed, lostExits, lostEvents int
	killed                                       int
	firstError                                   string
	exits, eventLats, eventLags                  []time.Duration
	walls, shimCPUs, childCPUs                   []time.Duration
	initExits, initEvents                        []time.Duration
	threads                                      int
}

func startBurstTarget(ctx context.Context, shim string, maxProcs int) (t *burstTarget, err error) {
	d, err := ctrdaemon.New(ctrdaemon.Config{Shim: shim, ShimConfig: shimSetting(maxProcs), Runtime: "runsc", RuntimeRootBase: "runsc"})
	if err != nil {
		return nil, err
	}
	t = &burstTarget{maxProcs: maxProcs, shim: shim, rootfs: filepath.Join(d.Dir, "rootfs"), daemon: d, events: map[string]int64{}, seen: map[string]chan struct{}{}, cancel: func() {}}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	if err := rootfsbuild.Busybox(t.rootfs); err != nil {
		return nil, err
	}
	if t.client, err = containerd.New(d.Address); err != nil {
		return nil, err
	}
	subCtx, cancel := context.WithCancel(ctx)
	t.cancel = cancel
	envelopes, errs := t.client.Subscribe(subCtx, `topic=="/tasks/exit"`)
	go t.subscribe(envelopes, errs)
	return t, t.newContainer(ctx)
}

// newContainer starts the container the bursts exec into, with its own
// shim, and runs one exec in it.
func (t *burstTarget) newContainer(ctx context.Context) error {
	t.started++
	id := fmt.Sprintf("burst-%d-%d-%d", os.Getpid(), t.maxProcs, t.started)
	startCtx, cancelStart := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelStart()
	var err error
	t.container, err = t.client.NewContainer(startCtx, id, containerd.WithRuntime(ctrdaemon.V1Runtime, nil),
		containerd.WithNewSpec(oci.WithRootFSPath(t.rootfs), oci.WithProcessArgs("/bin/sleep", "3600")))
	if err != nil {
		return fmt.Errorf("new container: %w", err)
	}
	spec, err := t.container.Spec(startCtx)
	if err != nil {
		return err
	}
	process := *spec.Process
	process.Args = []string{"/bin/true"}
	t.process = &process
	if t.task, err = t.container.NewTask(startCtx, cio.NullIO); err != nil {
		return fmt.Errorf("new task: %w; containerd log:\n%s", err, t.daemon.LogTail(4<<10))
	}
	// Waited on from now: the channel must exist before any kill. Its
	// context outlives this call, as the task does.
	if t.initWait, err = t.task.Wait(ctx); err != nil {
		return fmt.Errorf("wait task: %w", err)
	}
	if err := t.task.Start(startCtx); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	pidFile := filepath.Join(t.daemon.Dir, "state", ctrdaemon.V1Runtime, burstNamespace, id, "shim.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("shim pid: %w", err)
	}
	if t.shimPid, err = strconv.Atoi(strings.TrimSpace(string(b))); err != nil {
		return fmt.Errorf("shim pid %q: %w", b, err)
	}
	// A wrapper script execs the shim: the pid must run the binary itself.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", t.shimPid)); err != nil || exe != t.shim {
		return fmt.Errorf("shim pid %d runs %q, want %s (%v)", t.shimPid, exe, t.shim, err)
	}
	// One exec first, not counted: the shim's exec path and the
	// subscription (registered some time after Subscribe returns) are then
	// known to work before anything is measured.
	warm := &burstSample{}
	for attempt := 0; ; attempt++ {
		if err := t.runExec(startCtx, fmt.Sprintf("warm-%d-%d", t.started, attempt), monotonicNow(), 5*time.Second, warm); err != nil {
			return fmt.Errorf("warm-up exec: %w", err)
		}
		if warm.lostEvents == 0 {
			return nil
		}
		if attempt == 10 {
			return fmt.Errorf("warm-up exec: no TaskExit reached the subscriber in %d tries", attempt+1)
		}
		warm.lostEvents = 0
	}
}

// replaceContainer deletes the container, whose init was killed, and
// starts the next.
func (t *burstTarget) replaceContainer(ctx context.Context) error {
	if err := t.deleteContainer(ctx); err != nil {
		return err
	}
	return t.newContainer(ctx)
}

func (t *burstTarget) deleteContainer(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := t.task.Delete(ctx, containerd.WithProcessKill); err != nil {
		return fmt.Errorf("delete task: %w", err)
	}
	t.task = nil
	if err := t.container.Delete(ctx); err != nil {
		return fmt.Errorf("delete container: %w", err)
	}
	t.container = nil
	return nil
}

// subscribe records when each process's TaskExit arrives: an exec's by
// its exec id, the init's by the container's id.
func (t *burstTarget) subscribe(envelopes <-chan *events.Envelope, errs <-chan error) {
	for {
		select {
		case env := <-envelopes:
			now := monotonicNow()
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			exit, ok := v.(*eventstypes.TaskExit)
			if !ok {
				continue
			}
			t.mu.Lock()
			if _, dup := t.events[exit.ID]; !dup {
				t.events[exit.ID] = now
				if c, ok := t.seen[exit.ID]; ok {
					close(c)
					delete(t.seen, exit.ID)
				}
			}
			t.mu.Unlock()
		case <-errs:
			return // the subscription ended: whatever is missing counts lost
		}
	}
}

// eventSeen returns a channel closed once the TaskExit of execID (or of
// a container's init, by its id) has arrived.
func (t *burstTarget) eventSeen(execID string) <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	c := make(chan struct{})
	if _, ok := t.events[execID]; ok {
		close(c)
	} else {
		t.seen[execID] = c
	}
	return c
}

// burstSample is one burst's figures.
type burstSample struct {
	mu                                           sync.Mutex
	execs, exited, failed, lostExits, lostEvents int
	killed                                       int
	firstError                                   string
	exits, events, lags                          []time.Duration
	wall, shimCPU, childCPU                      time.Duration
	// gate, when set, opens once enough execs have exited (or were given
	// up on) for the init to be killed; killedAt is when it was (0: not).
	gate     *countdown
	killedAt atomic.Int64
	// With -kill-init: the init's exit and TaskExit from the Kill call,
	// and the children's CPU just before it (the sandbox the shim then
	// reaps would add its own).
	initExit, initEvent time.Duration
	childAtKill         time.Duration
	threads             int // the shim's once the execs have exited
}

// countdown closes C once done was called n times.
type countdown struct {
	left atomic.Int64
	C    chan struct{}
}

func newCountdown(n int) *countdown {
	c := &countdown{C: make(chan struct{})}
	c.left.Store(int64(n))
	return c
}

func (c *countdown) done() {
	if c.left.Add(-1) == 0 {
		close(c.C)
	}
}

// execFailed books an exec's error: as ended by the kill when the init was
// killed before it, as failed otherwise.
func (s *burstSample) execFailed(id string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.killedAt.Load() != 0 {
		s.killed++
		return
	}
	s.failed++
	if s.firstError == "" {
		s.firstError = fmt.Sprintf("exec %s: %v", id, err)
	}
}

func (s *burstSample) fail(lost *int, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*lost++
	if s.firstError == "" {
		s.firstError = err.Error()
	}
}

// burst starts n execs at once and waits for every exit and TaskExit.
func (t *burstTarget) burst(ctx context.Context, prefix string, n int, timeout time.Duration, killInit bool, killAfter int) (*burstSample, error) {
	if killAfter == 0 {
		killAfter = n
	}
	s := &burstSample{execs: n, gate: newCountdown(killAfter)}
	shim0, err := processCPU(t.shimPid)
	if err != nil {
		return nil, err
	}
	child0, err := childrenCPU(t.shimPid)
	if err != nil {
		return nil, err
	}
	start := monotonicNow()
	var wg sync.WaitGroup
	release := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			<-release
			t.runExec(ctx, id, start, timeout, s)
		}(fmt.Sprintf("%s-%d", prefix, i))
	}
	killed := make(chan struct{})
	if killInit {
		go func() {
			defer close(killed)
			<-s.gate.C
			t.killInit(ctx, start, timeout, s)
		}()
	} else {
		close(killed)
	}
	close(release)
	wg.Wait()
	<-killed
	s.wall = time.Duration(monotonicNow() - start)
	shim1, err := processCPU(t.shimPid)
	if err != nil {
		return nil, err
	}
	child1 := s.childAtKill
	if !killInit {
		if child1, err = childrenCPU(t.shimPid); err != nil {
			return nil, err
		}
		s.threads = shimThreads(t.shimPid)
	}
	s.shimCPU, s.childCPU = shim1-shim0, child1-child0
	t.add(s)
	return s, nil
}

// runExec runs one exec of /bin/true: Exec (the shim's Exec RPC), Wait,
// Start, then the exit, the TaskExit and Delete. Latencies count from the
// Exec call; what is not seen by start+timeout is lost.
func (t *burstTarget) runExec(ctx context.Context, id string, start int64, timeout time.Duration, s *burstSample) error {
	deadline := time.Duration(start + int64(timeout) - monotonicNow())
	ctx, cancel := context.WithTimeout(ctx, deadline)
	defer cancel()
	var once sync.Once
	exitPhaseDone := func() {
		if s.gate != nil {
			once.Do(s.gate.done)
		}
	}
	defer exitPhaseDone()
	seen := t.eventSeen(id)
	t0 := monotonicNow()
	proc, err := t.task.Exec(ctx, id, t.process, cio.NullIO)
	if err != nil {
		s.execFailed(id, fmt.Errorf("exec: %w", err))
		return err
	}
	defer proc.Delete(context.WithoutCancel(ctx))
	statusC, err := proc.Wait(ctx)
	if err != nil {
		s.execFailed(id, fmt.Errorf("wait: %w", err))
		return err
	}
	if err := proc.Start(ctx); err != nil {
		s.execFailed(id, fmt.Errorf("start: %w", err))
		return err
	}
	var exited int64
	select {
	case st := <-statusC:
		exited = monotonicNow()
		if code, _, err := st.Result(); err != nil || code != 0 {
			err = fmt.Errorf("exit status %d, %v", code, err)
			s.execFailed(id, err)
			return err
		}
		s.mu.Lock()
		s.exited++
		s.exits = append(s.exits, time.Duration(exited-t0))
		s.mu.Unlock()
	case <-ctx.Done():
		s.fail(&s.lostExits, fmt.Errorf("exec %s: no exit within %s of the burst's start", id, timeout))
		return nil
	}
	exitPhaseDone()
	select {
	case <-seen:
		t.mu.Lock()
		at := t.events[id]
		t.mu.Unlock()
		s.mu.Lock()
		s.events = append(s.events, time.Duration(at-t0))
		s.lags = append(s.lags, time.Duration(at-exited))
		s.mu.Unlock()
	case <-ctx.Done():
		s.fail(&s.lostEvents, fmt.Errorf("exec %s: no TaskExit within %s of the burst's start", id, timeout))
	}
	return nil
}

// killInit SIGKILLs the container's init and waits for its exit and its
// TaskExit, as for an exec.
func (t *burstTarget) killInit(ctx context.Context, start int64, timeout time.Duration, s *burstSample) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(start+int64(timeout)-monotonicNow()))
	defer cancel()
	id := t.container.ID()
	seen := t.eventSeen(id)
	var err error
	if s.childAtKill, err = childrenCPU(t.shimPid); err != nil {
		s.fail(&s.failed, err)
		return
	}
	s.threads = shimThreads(t.shimPid)
	t0 := monotonicNow()
	s.killedAt.Store(t0)
	if err := t.task.Kill(ctx, syscall.SIGKILL); err != nil {
		s.fail(&s.failed, fmt.Errorf("kill init: %w", err))
		return
	}
	select {
	case <-t.initWait:
		s.initExit = time.Duration(monotonicNow() - t0)
	case <-ctx.Done():
		s.fail(&s.lostExits, fmt.Errorf("init of %s: no exit within %s of the burst's start", id, timeout))
		return
	}
	select {
	case <-seen:
		t.mu.Lock()
		s.initEvent = time.Duration(t.events[id] - t0)
		t.mu.Unlock()
	case <-ctx.Done():
		s.fail(&s.lostEvents, fmt.Errorf("init of %s: no TaskExit within %s of the burst's start", id, timeout))
	}
}

// shimThreads is the shim's thread count; 0 when unreadable.
func shimThreads(pid int) int {
	m, _ := procmem.Read(pid)
	return m.Threads
}

// childrenCPU is the CPU time of the children pid has reaped (runsc exec,
// runsc wait): utime+stime of them in /proc/<pid>/stat, in clock ticks.
func childrenCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count from
	// after its closing one; cutime and cstime are fields 16 and 17.
	i := strings.LastIndexByte(string(b), ')')
	f := strings.Fields(string(b[i+1:]))
	if i < 0 || len(f) < 15 {
		return 0, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	var ticks int64
	for _, v := range f[13:15] {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks, nil
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports.
const clockTicks = 100

func (t *burstTarget) add(s *burstSample) {
	t.execs += s.execs
	t.exited += s.exited
	t.failed += s.failed
	t.killed += s.killed
	t.lostExits += s.lostExits
	t.lostEvents += s.lostEvents
	if t.firstError == "" {
		t.firstError = s.firstError
	}
	t.exits = append(t.exits, s.exits...)
	t.eventLats = append(t.eventLats, s.events...)
	t.eventLags = append(t.eventLags, s.lags...)
	t.walls = append(t.walls, s.wall)
	t.shimCPUs = append(t.shimCPUs, s.shimCPU)
	t.childCPUs = append(t.childCPUs, s.childCPU)
	t.threads = s.threads
	if s.initExit > 0 {
		t.initExits = append(t.initExits, s.initExit)
	}
	if s.initEvent > 0 {
		t.initEvents = append(t.initEvents, s.initEvent)
	}
}

func (t *burstTarget) result() BurstResult {
	r := BurstResult{MaxProcs: t.maxProcs, Setting: "default (one P)", Execs: t.execs, Exited: t.exited, Killed: t.killed, Events: len(t.eventLats),
		LostExits: t.lostExits, LostEvents: t.lostEvents, Failed: t.failed, FirstError: t.firstError,
		ExitLatency: summarize(t.exits), EventLatency: summarize(t.eventLats), EventLag: summarize(t.eventLags)}
	if t.maxProcs != 1 {
		r.Setting = fmt.Sprintf("[shim] max_procs = %d", t.maxProcs)
	}
	if len(t.walls) > 0 {
		walls, cpus := stats.Sorted(t.walls), stats.Sorted(t.shimCPUs)
		r.BurstMSMedian, r.BurstMSMax = ms(stats.Percentile(walls, 0.5)), ms(stats.Percentile(walls, 1))
		r.ShimCPUMSMedian, r.ShimCPUMSMax = ms(stats.Percentile(cpus, 0.5)), ms(stats.Percentile(cpus, 1))
		r.ChildrenCPUMSMedian = ms(stats.Median(t.childCPUs))
	}
	if len(t.initExits) > 0 {
		exits, events := summarize(t.initExits), summarize(t.initEvents)
		r.InitExitLatency, r.InitEventLatency = &exits, &events
	}
	r.Threads = t.threads
	return r
}

// close deletes the container (its shim exits, as containerd would have
// it) and stops the daemon.
func (t *burstTarget) close() {
	t.cancel()
	if t.task != nil {
		t.deleteContainer(namespaces.WithNamespace(context.Background(), burstNamespace))
	}
	if t.client != nil {
		t.client.Close()
	}
	t.daemon.Close()
}

func printBurst(out io.Writer, rep *BurstReport) {
	c, m := rep.Config, rep.Machine
	printMachine(out, m)
	fmt.Fprintf(out, "%d rounds of %d execs of /bin/true at once into one runsc container per setting, settings alternating; latency from the Exec call (TaskExit also after the exit); CPU per burst, medians over rounds\n",
		c.Rounds, c.Execs)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "setting\texecs\texited\tevents\tlost\texit p50 ms\tp90\tmax\tTaskExit p50 ms\tp90\tmax\tafter exit p50 ms\tp90\tmax\tburst ms med\tmax\tshim CPU ms med\tmax\trunsc CPU ms med\tthreads\t")
	for _, s := range rep.Shims {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f\t%.1f\t%.1f\t%.1f\t%.0f\t%.0f\t%.1f\t%.1f\t%.0f\t%d\t\n",
			s.Setting, s.Execs, s.Exited, s.Events, s.LostExits+s.LostEvents+s.Failed,
			s.ExitLatency.P50/1e3, s.ExitLatency.P90/1e3, s.ExitLatency.Max/1e3,
			s.EventLatency.P50/1e3, s.EventLatency.P90/1e3, s.EventLatency.Max/1e3,
			s.EventLag.P50/1e3, s.EventLag.P90/1e3, s.EventLag.Max/1e3,
			s.BurstMSMedian, s.BurstMSMax, s.ShimCPUMSMedian, s.ShimCPUMSMax, s.ChildrenCPUMSMedian, s.Threads)
	}
	tw.Flush()
	for _, s := range rep.Shims {
		if e, ev := s.InitExitLatency, s.InitEventLatency; e != nil && ev != nil {
			when := "after the burst's last exit"
			if c.KillAfter > 0 {
				when = fmt.Sprintf("after %d of the burst's exits (%d execs ended by it)", c.KillAfter, s.Killed)
			}
			fmt.Fprintf(out, "%s: init SIGKILLed %s, from the Kill call: exit p50 %.1f ms, p90 %.1f, max %.1f; TaskExit p50 %.1f ms, p90 %.1f, max %.1f (%d)\n",
				s.Setting, when, e.P50/1e3, e.P90/1e3, e.Max/1e3, ev.P50/1e3, ev.P90/1e3, ev.Max/1e3, ev.Count)
		}
	}
	if len(rep.Shims) > 1 {
		base := rep.Shims[0]
		for _, s := range rep.Shims[1:] {
			fmt.Fprintf(out, "%s over %s: exit p50 %.2f×, p90 %.2f×, burst %.2f×, shim CPU %.2f×\n", s.Setting, base.Setting,
				div(s.ExitLatency.P50, base.ExitLatency.P50), div(s.ExitLatency.P90, base.ExitLatency.P90),
				div(s.BurstMSMedian, base.BurstMSMedian), div(s.ShimCPUMSMedian, base.ShimCPUMSMedian))
		}
	}
}
