package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/cio"
	"github.com/containerd/containerd/namespaces"
	"github.com/containerd/containerd/oci"
	shimapi "github.com/containerd/containerd/runtime/v1/shim/v1"
	"github.com/containerd/ttrpc"
	"github.com/gogo/protobuf/types"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/google/gvisor-containerd-shim/internal/procmem"
	rootfsbuild "github.com/google/gvisor-containerd-shim/internal/rootfs"
	"github.com/google/gvisor-containerd-shim/internal/stats"
	"github.com/google/gvisor-containerd-shim/internal/syncbuf"
	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// FootprintReport is the -json output of `publish-bench footprint`.
type FootprintReport struct {
	Schema  string          `json:"schema"`
	Started time.Time       `json:"started"`
	Machine Machine         `json:"machine"`
	Config  FootprintConfig `json:"config"`
	Shims   []ShimPrint     `json:"shims"`
	Targets []Target        `json:"targets"`
	// Floor compares the floor with containerd-shim and ours with the
	// floor; absent without -floor or without its memory figures.
	Floor *FloorComparison `json:"floor,omitempty"`
}

// FloorComparison puts the floor (cmd/shim-floor: the shim's pinned
// dependencies serving the v1 API and nothing else) between containerd-shim
// and ours.
type FloorComparison struct {
	USSVsContainerdShim float64 `json:"uss_vs_containerd_shim_x"`
	PSSVsContainerdShim float64 `json:"pss_vs_containerd_shim_x"`
	OursUSSAboveKiB     int     `json:"ours_uss_above_floor_kib"`
	OursPSSAboveKiB     int     `json:"ours_pss_above_floor_kib"`
}

// FootprintConfig is how the run was made.
type FootprintConfig struct {
	Starts          int     `json:"starts"`
	Containers      int     `json:"containers"` // per shim
	SettleSeconds   float64 `json:"settle_seconds"`
	CPUWindowSecond float64 `json:"cpu_window_seconds"`
	Probes          int     `json:"probes"` // exec probes per container after the window
}

// ShimPrint is one shim binary's footprint.
type ShimPrint struct {
	Name        string `json:"name"` // "gvisor-containerd-shim", "containerd-shim" or "floor"
	Binary      string `json:"binary"`
	BinaryBytes int64  `json:"binary_bytes"`
	// Start to serving: exec until a ShimInfo call on the fd 3 socket is
	// answered, over Starts runs.
	Starts     int     `json:"starts"`
	StartP50MS float64 `json:"start_to_serving_p50_ms"`
	StartP90MS float64 `json:"start_to_serving_p90_ms"`
	StartMinMS float64 `json:"start_to_serving_min_ms"`
	StartMaxMS float64 `json:"start_to_serving_max_ms"`
	// A lone shim serving, no container: the run at the median start.
	IdleRSSKiB  int `json:"idle_rss_kib"`
	IdleThreads int `json:"idle_threads"`
	// With Containers containers running, one shim each: medians over the
	// shim processes (not the runtime's processes). The floor runs no
	// container: Containers is then its processes, serving at once.
	Runtime    string `json:"runtime"` // OCI runtime of the containers; "none" for the floor
	Containers int    `json:"containers"`
	USSKiB     int    `json:"uss_kib"` // Private_Clean + Private_Dirty
	PSSKiB     int    `json:"pss_kib"`
	RSSKiB     int    `json:"rss_kib"`
	Threads    int    `json:"threads"`
	// CPU each shim used over the idle window with its container running:
	// median and most over the shim processes.
	IdleCPUMSMedian float64 `json:"idle_cpu_ms_median"`
	IdleCPUMSMax    float64 `json:"idle_cpu_ms_max"`
	// USS and PSS again after the CPU window (medians; 0 without one).
	USSAfterWindowKiB int `json:"uss_after_window_kib"`
	PSSAfterWindowKiB int `json:"pss_after_window_kib"`
	// USS, PSS and threads again after Probes exec probes into each
	// container (medians; 0 without probes or for the floor).
	USSAfterProbesKiB  int    `json:"uss_after_probes_kib"`
	PSSAfterProbesKiB  int    `json:"pss_after_probes_kib"`
	ThreadsAfterProbes int    `json:"threads_after_probes"`
	ContainerError     string `json:"container_error,omitempty"` // why the container figures are missing

	pids []int
}

// footprint measures our shim next to containerd's containerd-shim: the
// time from exec to serving, then what N containers cost in shim processes:
// private (USS) and proportional (PSS) memory, RSS, threads and CPU while
// idle. Both shims alternate so that machine noise hits them alike.
func footprint(args []string, stdout io.Writer) (*FootprintReport, error) {
	fs := flag.NewFlagSet("publish-bench footprint", flag.ContinueOnError)
	shim := fs.String("shim", "", "gvisor-containerd-shim binary to measure (make build; bin/gvisor-containerd-shim)")
	refShim := fs.String("containerd-shim", "containerd-shim", "containerd's v1 shim binary to compare with")
	probes := fs.Int("probes", 0, "after the CPU window, exec probes (exec /bin/true, wait, delete, as kubelet's through CRI) per container, each container's one after the other and all containers at once; then memory is read again")
	floorShim := fs.String("floor", "", "shim-floor binary (make floor) to measure too: the shim's pinned dependencies serving the v1 API and nothing else")
	starts := fs.Int("starts", 20, "start-to-serving runs per binary")
	containers := fs.Int("containers", 20, "containers to run per shim for the memory figures, one shim each (needs runsc, runc and busybox; 0: none)")
	settle := fs.Duration("settle", 5*time.Second, "wait after the last container started before reading memory")
	cpuWindow := fs.Duration("cpu-window", 60*time.Second, "how long to measure the shims' CPU with their containers running and nothing happening (0: not measured)")
	jsonFile := fs.String("json", "", "write the figures to this JSON file")
	debug := fs.Bool("debug", false, "run the containers' shims with -debug and add the daemon's log to a container error")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if *starts < 1 {
		return nil, fmt.Errorf("-starts must be at least 1")
	}
	if *containers < 0 {
		return nil, fmt.Errorf("-containers must not be negative")
	}
	if *probes < 0 {
		return nil, fmt.Errorf("-probes must not be negative")
	}
	if *shim == "" {
		return nil, fmt.Errorf("-shim is required: the gvisor-containerd-shim binary to measure")
	}
	ours, err := resolveBinary(*shim)
	if err != nil {
		return nil, fmt.Errorf("-shim: %w", err)
	}
	ref, err := resolveBinary(*refShim)
	if err != nil {
		return nil, fmt.Errorf("containerd-shim not found (install Debian's containerd package or pass -containerd-shim): %w", err)
	}
	rep := &FootprintReport{Schema: "publish-bench-footprint/2", Started: time.Now().UTC(), Machine: machineInfo(),
		Config: FootprintConfig{Starts: *starts, Containers: *containers, SettleSeconds: settle.Seconds(), CPUWindowSecond: cpuWindow.Seconds(), Probes: *probes}}
	prints := []*ShimPrint{
		{Name: "gvisor-containerd-shim", Binary: ours, Runtime: "runsc"},
		{Name: "containerd-shim", Binary: ref, Runtime: "runc"},
	}
	if *floorShim != "" {
		floor, err := resolveBinary(*floorShim)
		if err != nil {
			return nil, fmt.Errorf("-floor: %w", err)
		}
		prints = append(prints, &ShimPrint{Name: floorName, Binary: floor, Runtime: floorRuntime})
	}
	for _, p := range prints {
		st, err := os.Stat(p.Binary)
		if err != nil {
			return nil, err
		}
		p.BinaryBytes = st.Size()
	}
	samples := make([][]startSample, len(prints))
	for i := 0; i < *starts; i++ {
		for j, p := range prints {
			s, err := startToServing(p.Binary, p.Runtime)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", p.Name, err)
			}
			samples[j] = append(samples[j], s)
		}
	}
	for j, p := range prints {
		p.Starts = len(samples[j])
		sort.Slice(samples[j], func(a, b int) bool { return samples[j][a].elapsed < samples[j][b].elapsed })
		sorted := durations(samples[j])
		p.StartMinMS, p.StartMaxMS = ms(sorted[0]), ms(sorted[len(sorted)-1])
		p.StartP50MS, p.StartP90MS = ms(stats.Percentile(sorted, 0.5)), ms(stats.Percentile(sorted, 0.9))
		mid := samples[j][len(samples[j])/2]
		p.IdleRSSKiB, p.IdleThreads = mid.mem.RSS, mid.mem.Threads
	}
	if *containers > 0 {
		rep.Machine.ContainerdVersion = runContainers(prints, *containers, *settle, *cpuWindow, *probes, *debug)
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	for _, p := range prints {
		rep.Shims = append(rep.Shims, *p)
	}
	rep.Targets = footprintTargets(rep.Shims[0], rep.Shims[1])
	if len(rep.Shims) > 2 {
		rep.Floor = compareFloor(rep.Shims[0], rep.Shims[1], rep.Shims[2])
	}
	if *jsonFile != "" {
		b, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(*jsonFile, append(b, '\n'), 0o644); err != nil {
			return nil, err
		}
	}
	printFootprint(stdout, rep)
	return rep, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// resolveBinary finds bin as exec would and returns the file it names:
// /proc/<pid>/exe names the resolved file, and shims are matched with that.
func resolveBinary(bin string) (string, error) {
	path, err := exec.LookPath(bin)
	if err != nil {
		return "", err
	}
	if path, err = filepath.EvalSymlinks(path); err != nil {
		return "", err
	}
	return filepath.Abs(path)
}

const (
	floorName    = "floor"
	floorRuntime = "none"
)

// compareFloor places the floor between containerd-shim and ours; nil when
// any of them has no memory figures.
func compareFloor(ours, ref, floor ShimPrint) *FloorComparison {
	for _, s := range []ShimPrint{ours, ref, floor} {
		if s.ContainerError != "" || s.Containers == 0 {
			return nil
		}
	}
	return &FloorComparison{
		USSVsContainerdShim: div(float64(floor.USSKiB), float64(ref.USSKiB)),
		PSSVsContainerdShim: div(float64(floor.PSSKiB), float64(ref.PSSKiB)),
		OursUSSAboveKiB:     ours.USSKiB - floor.USSKiB,
		OursPSSAboveKiB:     ours.PSSKiB - floor.PSSKiB,
	}
}

// footprintTargets are the goals: per container, our shim costs no
// more private and proportional memory than containerd-shim, and starts
// serving no later. Each value is ours over containerd-shim's.
func footprintTargets(ours, ref ShimPrint) []Target {
	var out []Target
	add := func(name string, value, threshold float64) {
		out = append(out, Target{Name: name, Value: value, Op: "<=", Threshold: threshold, Met: value <= threshold})
	}
	if ours.ContainerError == "" && ref.ContainerError == "" && ours.Containers > 0 && ref.Containers > 0 {
		add("uss_vs_containerd_shim_x", div(float64(ours.USSKiB), float64(ref.USSKiB)), 1)
		add("pss_vs_containerd_shim_x", div(float64(ours.PSSKiB), float64(ref.PSSKiB)), 1)
	}
	add("start_to_serving_p50_vs_containerd_shim_x", div(ours.StartP50MS, ref.StartP50MS), 1)
	return out
}

type startSample struct {
	elapsed time.Duration
	mem     procmem.Usage
}

func durations(s []startSample) []time.Duration {
	out := make([]time.Duration, len(s))
	for i, v := range s {
		out[i] = v.elapsed
	}
	return out
}

// startToServing launches bin as containerd does and times exec until
// ShimInfo answers, then reads the lone process's memory.
func startToServing(bin, runtime string) (startSample, error) {
	shim, elapsed, err := launchShim(bin, runtime)
	if err != nil {
		return startSample{}, err
	}
	defer shim.stop()
	time.Sleep(200 * time.Millisecond) // let start-up goroutines settle
	mem, err := procmem.Read(shim.cmd.Process.Pid)
	if err != nil {
		return startSample{}, err
	}
	return startSample{elapsed: elapsed, mem: mem}, nil
}

// launchedShim is a shim process started by launchShim, serving, with the
// connection it answered on still open, as containerd keeps its own.
type launchedShim struct {
	cmd    *exec.Cmd
	dir    string
	client *ttrpc.Client
	exited chan struct{}
}

// stop kills the shim, waits for it and removes its directory.
func (s *launchedShim) stop() {
	s.client.Close()
	s.cmd.Process.Kill()
	<-s.exited
	os.RemoveAll(s.dir)
}

// launchShim starts bin as containerd does (listening socket on fd 3, cwd
// the bundle, GOMAXPROCS=2) and returns once ShimInfo answers, with the
// time from exec to that answer.
func launchShim(bin, runtime string) (shim *launchedShim, elapsed time.Duration, err error) {
	dir, err := os.MkdirTemp("", "fp-")
	if err != nil {
		return nil, 0, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	sock := filepath.Join(dir, "shim.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		return nil, 0, err
	}
	defer l.Close() // the shim holds its own copy
	lf, err := l.(*net.UnixListener).File()
	if err != nil {
		return nil, 0, err
	}
	defer lf.Close()
	// The runtime root's base name must be the runtime's: the runc-exec
	// hack hands anything else to containerd-shim.
	root, work := filepath.Join(dir, runtime), filepath.Join(dir, "work")
	if err := os.Mkdir(work, 0o711); err != nil {
		return nil, 0, err
	}
	cmd := exec.Command(bin, "-namespace", "footprint", "-workdir", work,
		"-address", filepath.Join(dir, "containerd.sock"), "-containerd-binary", "containerd", "-runtime-root", root)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOMAXPROCS=2")
	cmd.ExtraFiles = []*os.File{lf}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stderr := syncbuf.Buffer{Max: maxStderr}
	cmd.Stdout, cmd.Stderr = &stderr, &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	shim = &launchedShim{cmd: cmd, dir: dir, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(shim.exited)
		cancel() // a shim that dies will never answer
	}()
	defer func() {
		if err != nil {
			cmd.Process.Kill()
			<-shim.exited
		}
	}()
	// The socket listens already, so this connects at once; the call is
	// answered once the shim serves.
	conn, err := net.Dial("unix", sock)
	if err != nil {
		return nil, 0, err
	}
	shim.client = ttrpc.NewClient(conn)
	defer func() {
		if err != nil {
			shim.client.Close()
		}
	}()
	info, err := shimapi.NewShimClient(shim.client).ShimInfo(ctx, &types.Empty{})
	elapsed = time.Since(start)
	if err != nil {
		return nil, 0, fmt.Errorf("ShimInfo: %w; output: %s", err, strings.TrimSpace(stderr.String()))
	}
	if int(info.ShimPid) != cmd.Process.Pid {
		return nil, 0, fmt.Errorf("ShimInfo says pid %d, started %d", info.ShimPid, cmd.Process.Pid)
	}
	return shim, elapsed, nil
}

// shimDaemon is one throwaway containerd whose v1 runtime uses one shim.
type shimDaemon struct {
	print  *ShimPrint
	daemon *ctrdaemon.Daemon
	client *containerd.Client
	rootfs string
	debug  bool
	tasks  []containerd.Task
}

const footprintNamespace = "footprint"

// runContainers starts n `sleep` containers per shim, each through its own
// shim process, alternating between the shims (and n floor processes with
// them), then reads every shim process's memory and its CPU over
// cpuWindow. A shim whose containers fail gets a ContainerError; the
// others are still measured. It returns the daemons' containerd version.
func runContainers(prints []*ShimPrint, n int, settle, cpuWindow time.Duration, probes int, debug bool) (version string) {
	var daemons []*shimDaemon
	var floor *floorFleet
	for _, p := range prints {
		if p.Runtime == floorRuntime {
			floor = &floorFleet{print: p}
			defer floor.close()
			continue
		}
		d, err := startShimDaemon(p, debug)
		if err != nil {
			p.ContainerError = err.Error()
			continue
		}
		defer d.close()
		daemons = append(daemons, d)
		version = daemonVersion(d.daemon.Address)
	}
	for i := 0; i < n; i++ {
		for _, d := range daemons {
			if d.print.ContainerError != "" {
				continue
			}
			// Fixed width: this runsc finds containers by id prefix, so
			// with fp-1 and fp-10 alive it could no longer address fp-1.
			if err := d.startContainer(fmt.Sprintf("fp-%d-%04d", os.Getpid(), i)); err != nil {
				d.print.ContainerError = d.describe(err)
			}
		}
		if floor != nil && floor.print.ContainerError == "" {
			if err := floor.start(); err != nil {
				floor.print.ContainerError = err.Error()
			}
		}
	}
	time.Sleep(settle)
	for _, p := range prints {
		if m, ok := measureMemory(p); ok {
			p.Containers = len(p.pids)
			p.USSKiB, p.PSSKiB, p.RSSKiB, p.Threads = m.USS, m.PSS, m.RSS, m.Threads
		}
	}
	if cpuWindow > 0 {
		idleCPU(prints, cpuWindow)
		// Again after the idle window: what stays once the shims have
		// settled (containerd-shim collects and returns memory every 30 s).
		for _, p := range prints {
			if m, ok := measureMemory(p); ok {
				p.USSAfterWindowKiB, p.PSSAfterWindowKiB = m.USS, m.PSS
			}
		}
	}
	if probes > 0 {
		// A probed container's shim allocates on every exec; what it
		// holds afterwards is what a node pays for containers with exec
		// probes, the common case.
		var wg sync.WaitGroup
		var mu sync.Mutex
		for _, d := range daemons {
			if d.print.ContainerError != "" {
				continue
			}
			for _, task := range d.tasks {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := d.probe(task, probes); err != nil {
						mu.Lock()
						if d.print.ContainerError == "" {
							d.print.ContainerError = err.Error()
						}
						mu.Unlock()
					}
				}()
			}
		}
		wg.Wait()
		time.Sleep(settle)
		for _, d := range daemons {
			if m, ok := measureMemory(d.print); ok {
				d.print.USSAfterProbesKiB, d.print.PSSAfterProbesKiB, d.print.ThreadsAfterProbes = m.USS, m.PSS, m.Threads
			}
		}
	}
	return version
}

// probe runs n exec probes into task one after the other, each as kubelet's
// through CRI's ExecSync: exec /bin/true, start, wait for its exit, delete.
func (d *shimDaemon) probe(task containerd.Task, n int) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), footprintNamespace), 10*time.Minute)
	defer cancel()
	spec, err := task.Spec(ctx)
	if err != nil {
		return fmt.Errorf("probe %s: %w", task.ID(), err)
	}
	proc := *spec.Process
	proc.Args = []string{"/bin/true"}
	for i := 0; i < n; i++ {
		if err := execOnce(ctx, task, fmt.Sprintf("probe-%d", i), &proc); err != nil {
			return fmt.Errorf("probe %d of %s: %w", i, task.ID(), err)
		}
	}
	return nil
}

func execOnce(ctx context.Context, task containerd.Task, id string, spec *specs.Process) error {
	proc, err := task.Exec(ctx, id, spec, cio.NullIO)
	if err != nil {
		return err
	}
	defer proc.Delete(ctx)
	statusC, err := proc.Wait(ctx)
	if err != nil {
		return err
	}
	if err := proc.Start(ctx); err != nil {
		return err
	}
	select {
	case st := <-statusC:
		if code, _, err := st.Result(); err != nil || code != 0 {
			return fmt.Errorf("exit status %d, %v", code, err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// floorFleet is the floor's processes, serving at once as n shims would.
type floorFleet struct {
	print *ShimPrint
	shims []*launchedShim
}

func (f *floorFleet) start() error {
	shim, _, err := launchShim(f.print.Binary, f.print.Runtime)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	f.shims = append(f.shims, shim)
	f.print.pids = append(f.print.pids, shim.cmd.Process.Pid)
	return nil
}

func (f *floorFleet) close() {
	for _, s := range f.shims {
		s.stop()
	}
}

// idleCPU reads every shim's CPU time before and after window, over which
// nothing is asked of the shims or their containers.
func idleCPU(prints []*ShimPrint, window time.Duration) {
	before := map[int]time.Duration{}
	for _, p := range prints {
		for _, pid := range p.pids {
			before[pid], _ = processCPU(pid)
		}
	}
	time.Sleep(window)
	for _, p := range prints {
		if p.ContainerError != "" {
			continue
		}
		var used []time.Duration
		for _, pid := range p.pids {
			after, err := processCPU(pid)
			if err != nil || after < before[pid] {
				p.ContainerError = fmt.Sprintf("shim pid %d: CPU not readable over the window: %v", pid, err)
				break
			}
			used = append(used, after-before[pid])
		}
		if len(used) > 0 && p.ContainerError == "" {
			used = stats.Sorted(used)
			p.IdleCPUMSMedian, p.IdleCPUMSMax = ms(stats.Percentile(used, 0.5)), ms(stats.Percentile(used, 1))
		}
	}
}

// measureMemory reads every shim process of p and returns the medians; on
// an error it sets the ContainerError and returns false.
func measureMemory(p *ShimPrint) (procmem.Usage, bool) {
	if p.ContainerError != "" || len(p.pids) == 0 {
		return procmem.Usage{}, false
	}
	var mems []procmem.Usage
	for _, pid := range p.pids {
		m, err := procmem.Read(pid)
		if err != nil {
			p.ContainerError = fmt.Sprintf("shim pid %d: %v", pid, err)
			return procmem.Usage{}, false
		}
		mems = append(mems, m)
	}
	return procmem.Usage{
		USS:     medianOf(mems, func(m procmem.Usage) int { return m.USS }),
		PSS:     medianOf(mems, func(m procmem.Usage) int { return m.PSS }),
		RSS:     medianOf(mems, func(m procmem.Usage) int { return m.RSS }),
		Threads: medianOf(mems, func(m procmem.Usage) int { return m.Threads }),
	}, true
}

func medianOf(mems []procmem.Usage, field func(procmem.Usage) int) int {
	v := make([]int, len(mems))
	for i, m := range mems {
		v[i] = field(m)
	}
	return stats.Median(v)
}

func startShimDaemon(p *ShimPrint, debug bool) (*shimDaemon, error) {
	cfg := ctrdaemon.Config{Shim: p.Binary, Runtime: p.Runtime, RuntimeRootBase: p.Runtime, ShimDebug: debug}
	if p.Name != "containerd-shim" {
		// containerd passes the shim no -config, and the containers have no
		// network namespace of their own, where runsc refuses its default.
		cfg.ShimConfig = "[runsc_config]\n  network = \"none\"\n"
	}
	d, err := ctrdaemon.New(cfg)
	if err != nil {
		return nil, err
	}
	sd := &shimDaemon{print: p, daemon: d, rootfs: filepath.Join(d.Dir, "rootfs"), debug: debug}
	if err := rootfsbuild.Busybox(sd.rootfs); err != nil {
		d.Close()
		return nil, err
	}
	if sd.client, err = containerd.New(d.Address); err != nil {
		d.Close()
		return nil, err
	}
	return sd, nil
}

// startContainer runs one `sleep` container and records its shim's pid.
func (d *shimDaemon) startContainer(id string) error {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), footprintNamespace), time.Minute)
	defer cancel()
	container, err := d.client.NewContainer(ctx, id, containerd.WithRuntime(ctrdaemon.V1Runtime, nil),
		containerd.WithNewSpec(oci.WithRootFSPath(d.rootfs), oci.WithProcessArgs("/bin/sleep", "3600")))
	if err != nil {
		return fmt.Errorf("new container: %w", err)
	}
	task, err := container.NewTask(ctx, cio.NullIO)
	if err != nil {
		return fmt.Errorf("new task: %w", err)
	}
	d.tasks = append(d.tasks, task)
	if err := task.Start(ctx); err != nil {
		return fmt.Errorf("start task: %w", err)
	}
	if st, err := task.Status(ctx); err != nil || st.Status != containerd.Running {
		return fmt.Errorf("task not running after start: %v %v", st.Status, err)
	}
	pidFile := filepath.Join(d.daemon.Dir, "state", ctrdaemon.V1Runtime, footprintNamespace, id, "shim.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("shim pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("shim pid %q: %w", b, err)
	}
	// A wrapper script execs the shim, so the pid must run the binary itself.
	if exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid)); err != nil || exe != d.print.Binary {
		return fmt.Errorf("shim pid %d runs %q, want %s (%v)", pid, exe, d.print.Binary, err)
	}
	d.print.pids = append(d.print.pids, pid)
	return nil
}

// describe is a container error, with the daemon's log under -debug.
func (d *shimDaemon) describe(err error) string {
	if d.debug {
		return fmt.Sprintf("%v; containerd log:\n%s", err, d.daemon.LogTail(8<<10))
	}
	return err.Error()
}

// close deletes the containers (so that their shims exit as containerd
// would have them) and stops the daemon.
func (d *shimDaemon) close() {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), footprintNamespace), 2*time.Minute)
	defer cancel()
	for _, t := range d.tasks {
		t.Delete(ctx, containerd.WithProcessKill)
	}
	d.client.Close()
	d.daemon.Close()
}

func printFootprint(out io.Writer, rep *FootprintReport) {
	c, m := rep.Config, rep.Machine
	printMachine(out, m)
	fmt.Fprintf(out, "start to serving: %d starts per shim, alternating; memory: %d containers per shim (one shim each), medians per shim process; idle CPU over %gs, then USS and PSS again\n",
		c.Starts, c.Containers, c.CPUWindowSecond)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "shim\tbinary MB\tstart p50 ms\tp90 ms\tidle RSS KiB\tidle threads\truntime\tcontainers\tUSS KiB\tPSS KiB\tRSS KiB\tthreads\tidle CPU ms med\tmax\tthen USS\tPSS\t")
	for _, s := range rep.Shims {
		figs := []string{"-", "-", "-", "-", "-", "-", "-", "-"}
		if s.ContainerError == "" && s.Containers > 0 {
			figs = []string{strconv.Itoa(s.USSKiB), strconv.Itoa(s.PSSKiB), strconv.Itoa(s.RSSKiB), strconv.Itoa(s.Threads), "-", "-", "-", "-"}
			if c.CPUWindowSecond > 0 {
				figs[4], figs[5] = fmt.Sprintf("%.2f", s.IdleCPUMSMedian), fmt.Sprintf("%.2f", s.IdleCPUMSMax)
				figs[6], figs[7] = strconv.Itoa(s.USSAfterWindowKiB), strconv.Itoa(s.PSSAfterWindowKiB)
			}
		}
		fmt.Fprintf(tw, "%s\t%.1f\t%.1f\t%.1f\t%d\t%d\t%s\t%d\t%s\t\n", s.Name, float64(s.BinaryBytes)/1e6, s.StartP50MS, s.StartP90MS,
			s.IdleRSSKiB, s.IdleThreads, s.Runtime, s.Containers, strings.Join(figs, "\t"))
	}
	tw.Flush()
	if c.Probes > 0 {
		fmt.Fprintf(out, "after %d exec probes into each container (medians):", c.Probes)
		for _, s := range rep.Shims {
			if s.USSAfterProbesKiB > 0 {
				fmt.Fprintf(out, "  %s USS %d KiB, PSS %d KiB, %d threads;", s.Name, s.USSAfterProbesKiB, s.PSSAfterProbesKiB, s.ThreadsAfterProbes)
			}
		}
		fmt.Fprintln(out)
	}
	for _, s := range rep.Shims {
		if s.ContainerError != "" {
			fmt.Fprintf(out, "%s: no container figures: %s\n", s.Name, s.ContainerError)
		}
	}
	printTargets(out, "targets (ours over containerd-shim's)", rep.Targets, 42, 6, 4)
	if f := rep.Floor; f != nil {
		fmt.Fprintln(out, "\nfloor: the shim's pinned dependencies serving the v1 API and nothing else, no container (cmd/shim-floor)")
		fmt.Fprintf(out, "  floor over containerd-shim's   USS %.2f   PSS %.2f\n", f.USSVsContainerdShim, f.PSSVsContainerdShim)
		fmt.Fprintf(out, "  ours above the floor           USS %+d KiB   PSS %+d KiB\n", f.OursUSSAboveKiB, f.OursPSSAboveKiB)
		if f.USSVsContainerdShim > 1 || f.PSSVsContainerdShim > 1 {
			fmt.Fprintln(out, "  the floor alone is above containerd-shim's: these dependencies, built this way, cost more than the target before a shim does anything")
		}
	}
}
