// Command cri-bench measures shims side by side through containerd's CRI
// plugin and crictl, in one run, alternating them round by round: ours on
// runsc, runc through our exec hack (containerd-shim), and with
// -gvisor-shim gVisor's own v2 shim on the same runsc (containerd 1.7 and
// later: -containerd). Per shim:
//   - pod start: runp + create + start until CRI shows the container RUNNING;
//   - a container's exit until CRI shows it EXITED;
//   - an exec probe (crictl exec -s <id> true), its wall clock and CPU; also
//     ours with the fork fallback (publisher mode "exec", a second
//     containerd) and the floors: bare runsc exec into the same sandbox,
//     and crictl's own start-up;
//   - shim processes per pod and their summed USS/PSS, idle and after the
//     probes once quiet;
//   - exits across a containerd outage: containers exit while containerd
//     is stopped; after the restart, how many CRI shows EXITED with the
//     right code, and how soon.
//
// `make cri-bench` (containerd 1.6, runsc vs runc) and `make cri-bench-gvisor`
// run it; -json writes the figures (internal/cribench), which
// `publish-bench cri-chart` plots.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/internal/cribench"
	"github.com/google/gvisor-containerd-shim/internal/procmem"
	"github.com/google/gvisor-containerd-shim/shim/config"
)

type options struct {
	shim, gvisorShim, jsonPath       string
	rounds, probes, pods, outagePods int
	settle, quiet, outage            time.Duration
	fork                             bool
}

func main() {
	var o options
	flag.StringVar(&o.shim, "shim", "bin/gvisor-containerd-shim", "the built shim binary")
	flag.StringVar(&o.gvisorShim, "gvisor-shim", "", "gVisor's v2 shim, named containerd-shim-runsc-v1 (make gvisor-shim): a third contender; needs containerd 1.7+ (CONTAINERD=bin/containerd-1.7)")
	flag.IntVar(&o.rounds, "rounds", 10, "pods started per shim")
	flag.IntVar(&o.probes, "probes", 100, "exec probes per variant")
	flag.IntVar(&o.pods, "pods", 3, "pods per shim whose shims' memory is read (the first is probed)")
	flag.DurationVar(&o.settle, "settle", 5*time.Second, "wait after the memory pods started before reading them")
	flag.DurationVar(&o.quiet, "quiet", 10*time.Second, "wait after the last probe before reading the probed pods again")
	flag.DurationVar(&o.outage, "outage", 20*time.Second, "how long containerd is stopped while containers exit; 0 skips it")
	flag.IntVar(&o.outagePods, "outage-pods", 3, "pods per shim whose container exits during the outage")
	flag.BoolVar(&o.fork, "fork", true, "also probe ours with the fork fallback (publisher mode exec, a second containerd)")
	flag.StringVar(&o.jsonPath, "json", "", "write the figures to this file")
	flag.DurationVar(&exitAfter, "exit-after", time.Second, "how long the pod start rounds' container runs: it must still run when crictl start and inspect return (raise it on a loaded machine)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, o)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-bench:", err)
		os.Exit(1)
	}
}

// exitAfter is how long the measured container runs before it exits
// (-exit-after).
var exitAfter = time.Second

// contender is one shim under test, and its pods.
type contender struct {
	name, label string
	handler     string
	node        *cri.Node
	// pods are the memory pods and their containers; the first is probed.
	pods       []*cri.Pod
	containers []string
	out        cribench.Contender
}

// variant is one kind of exec probe.
type variant struct {
	name, label string
	node        *cri.Node
	// id is the probed container; exec is nil for a probe through CRI, else
	// it runs the probe itself and returns the CPU it used.
	id                 string
	exec               func(context.Context) (time.Duration, error)
	wall               []time.Duration
	shimCPU, daemonCPU time.Duration
}

func run(ctx context.Context, o options) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do)")
	}
	shim, err := filepath.Abs(o.shim)
	if err != nil {
		return err
	}
	// RUNSC and CONTAINERD (internal/ctrdaemon) put the binaries they name
	// first on PATH: every shim finds the same ones by name.
	runsc, err := binaryPath("runsc")
	if err != nil {
		return err
	}
	containerd, err := binaryPath("containerd")
	if err != nil {
		return err
	}
	opts := cri.Options{Shim: shim}
	if o.gvisorShim != "" {
		if opts.GVisorShim, err = filepath.Abs(o.gvisorShim); err != nil {
			return err
		}
	}
	rep := &cribench.Report{
		Schema:  cribench.Schema,
		Started: time.Now().UTC(),
		Command: strings.Join(os.Args, " "),
		Machine: cribench.Machine{
			CPUs:         runtime.NumCPU(),
			Kernel:       firstLine("/proc/sys/kernel/osrelease"),
			Containerd:   version(containerd, "--version"),
			Runsc:        version(runsc, "--version"),
			LoadavgStart: loadavg(),
		},
		Config: cribench.Config{
			Rounds: o.rounds, Probes: o.probes, MemoryPods: o.pods,
			SettleSeconds: o.settle.Seconds(), QuietSeconds: o.quiet.Seconds(),
			OutagePods: o.outagePods, OutageSeconds: o.outage.Seconds(),
			ExitAfterMs: float64(exitAfter.Milliseconds()),
		},
	}
	if o.pods < 1 {
		return errors.New("-pods: at least 1 (the probed pod)")
	}

	node, err := cri.Start(ctx, opts)
	if err != nil {
		return err
	}
	defer node.Close()
	var fork *cri.Node
	if o.fork {
		forkOpts := opts
		forkOpts.GVisorShim = ""
		forkOpts.ShimConfig = node.ShimConfig + "[publisher]\n  mode = \"exec\"\n"
		if fork, err = cri.Start(ctx, forkOpts); err != nil {
			return err
		}
		defer fork.Close()
	}

	contenders := []*contender{{name: "ours (v1), runsc", label: "ours", handler: cri.Runsc, node: node}}
	if opts.GVisorShim != "" {
		contenders = append(contenders, &contender{name: "gVisor's shim (v2), runsc", label: "gVisor shim", handler: cri.GVisor, node: node})
	}
	contenders = append(contenders, &contender{name: "runc (containerd-shim)", label: "runc", handler: cri.Runc, node: node})
	for _, c := range contenders {
		c.out.Name, c.out.Label, c.out.Handler = c.name, c.label, c.handler
	}

	// Pod start and exit, round by round; which goes first rotates.
	podStart := map[*contender][]time.Duration{}
	exitSeen := map[*contender][]time.Duration{}
	for r := 0; r < o.rounds; r++ {
		for i := range contenders {
			c := contenders[(r+i)%len(contenders)]
			start, exit, err := startAndExit(ctx, node, c.handler)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", c.name, r, err)
			}
			podStart[c] = append(podStart[c], start)
			exitSeen[c] = append(exitSeen[c], exit)
		}
		progress("round %d/%d", r+1, o.rounds)
	}
	for _, c := range contenders {
		c.out.PodStart, c.out.ExitSeen = cribench.Summarize(podStart[c]), cribench.Summarize(exitSeen[c])
	}

	// Memory pods, started interleaved; the first of each is probed.
	for p := 0; p < o.pods; p++ {
		for _, c := range contenders {
			pod, err := node.RunPod(ctx, c.handler, "mem")
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			defer pod.Remove(context.WithoutCancel(ctx))
			id, err := pod.Run(ctx, cri.Container{Name: "idle", Command: []string{"sleep", "3600"}})
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			c.pods, c.containers = append(c.pods, pod), append(c.containers, id)
		}
	}
	progress("memory pods started; settling %v", o.settle)
	sleep(ctx, o.settle)
	for _, c := range contenders {
		var uss, pss []int
		for i, pod := range c.pods {
			n, u, p, err := podShimMemory(pod.ID, c.containers[i])
			if err != nil {
				return fmt.Errorf("%s: %w", c.name, err)
			}
			c.out.ShimProcessesPerPod = max(c.out.ShimProcessesPerPod, n)
			uss, pss = append(uss, u), append(pss, p)
		}
		c.out.IdleUSSKiB, c.out.IdlePSSKiB = medianInt(uss), medianInt(pss)
	}

	// Exec probes, interleaved: each contender's probed pod, ours with the
	// fork fallback, and the runsc exec floor into ours' sandbox.
	var variants []*variant
	for _, c := range contenders {
		variants = append(variants, &variant{name: c.name, label: c.label, node: node, id: c.containers[0]})
	}
	var forkPod *cri.Pod
	if fork != nil {
		if forkPod, err = fork.RunPod(ctx, cri.Runsc, "probe"); err != nil {
			return err
		}
		defer forkPod.Remove(context.WithoutCancel(ctx))
		id, err := forkPod.Run(ctx, cri.Container{Name: "probed", Command: []string{"sleep", "3600"}})
		if err != nil {
			return err
		}
		variants = append(variants, &variant{name: "ours (v1), runsc, fork fallback (mode exec)", label: "ours fork", node: fork, id: id})
	}
	floorID := contenders[0].containers[0]
	variants = append(variants, &variant{
		name: "floor: runsc exec into ours' sandbox", label: "runsc exec",
		exec: func(ctx context.Context) (time.Duration, error) {
			return runscExec(ctx, runsc, node.OCIRoot(cri.Runsc), floorID, runscFlags(node))
		},
	})
	var crictlFloor []time.Duration
	for p := 0; p < o.probes; p++ {
		for i := range variants {
			v := variants[(p+i)%len(variants)]
			if err := v.probe(ctx); err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
		}
		t0 := time.Now()
		if _, err := node.Crictl(ctx, "version"); err != nil {
			return err
		}
		crictlFloor = append(crictlFloor, time.Since(t0))
		if (p+1)%20 == 0 {
			progress("probe %d/%d", p+1, o.probes)
		}
	}
	for _, v := range variants {
		rep.Probes = append(rep.Probes, cribench.Probe{
			Name: v.name, Label: v.label, Wall: cribench.Summarize(v.wall),
			ShimCPUMs:       ms(v.shimCPU) / float64(o.probes),
			ContainerdCPUMs: ms(v.daemonCPU) / float64(o.probes),
		})
	}
	rep.Probes = append(rep.Probes, cribench.Probe{Name: "floor: crictl version", Label: "crictl", Wall: cribench.Summarize(crictlFloor)})
	if forkPod != nil {
		// Its shims share our binary's pages: gone, they no longer lower
		// ours' PSS below what the other contenders' pods are read at.
		if err := forkPod.Remove(ctx); err != nil {
			return err
		}
	}
	progress("probes done; quiet for %v", o.quiet)
	sleep(ctx, o.quiet)
	for _, c := range contenders {
		_, u, p, err := podShimMemory(c.pods[0].ID, c.containers[0])
		if err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		c.out.ProbedUSSKiB, c.out.ProbedPSSKiB = u, p
	}

	if o.outage > 0 {
		if err := outage(ctx, node, contenders, o.outagePods, o.outage, runsc); err != nil {
			return fmt.Errorf("outage: %w", err)
		}
	}

	rep.Machine.LoadavgEnd = loadavg()
	for _, c := range contenders {
		rep.Contenders = append(rep.Contenders, c.out)
	}
	printReport(rep)
	if o.jsonPath != "" {
		return rep.Write(o.jsonPath)
	}
	return nil
}

// probe runs one exec probe and adds its wall clock and CPU to v's.
func (v *variant) probe(ctx context.Context) error {
	if v.exec != nil {
		t0 := time.Now()
		cpu, err := v.exec(ctx)
		if err != nil {
			return err
		}
		v.wall = append(v.wall, time.Since(t0))
		v.shimCPU += cpu
		return nil
	}
	shim, err := shimPid(v.id)
	if err != nil {
		return err
	}
	shim0, daemon0 := cpuTime(shim), cpuTime(v.node.Daemon.Pid())
	t0 := time.Now()
	if _, err := v.node.Crictl(ctx, "exec", "-s", v.id, "true"); err != nil {
		return err
	}
	v.wall = append(v.wall, time.Since(t0))
	// The shim reaps what it forks (runsc exec, containerd publish): allow
	// it a moment, then count its children too.
	time.Sleep(50 * time.Millisecond)
	v.shimCPU += cpuTime(shim) - shim0
	v.daemonCPU += cpuTime(v.node.Daemon.Pid()) - daemon0
	return nil
}

// runscExec runs `runsc exec <id> true` into the container, as a shim
// would, with the same [runsc_config] flags as the shims, and returns the
// CPU it used with its children (wait4's rusage).
func runscExec(ctx context.Context, runsc, root, id string, flags []string) (time.Duration, error) {
	args := append([]string{"--root", root}, flags...)
	cmd := exec.CommandContext(ctx, runsc, append(args, "exec", id, "true")...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("runsc exec: %w: %s", err, strings.TrimSpace(string(out)))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}

// runscFlags are the node's [runsc_config] as runsc flags, as the shims
// pass them.
func runscFlags(node *cri.Node) []string {
	cfg, err := config.Parse("shim config", []byte(node.ShimConfig))
	if err != nil {
		panic(err) // the node started with it
	}
	var flags []string
	for k, v := range cfg.RunscConfig {
		flags = append(flags, "--"+k+"="+v)
	}
	sort.Strings(flags)
	return flags
}

// outage starts pods whose containers exit with distinct codes on SIGTERM,
// stops containerd, makes every container exit through its runtime's CLI
// (runsc or runc kill: the shims see the exits, containerd does not), keeps
// containerd stopped for d in all, starts it again, and polls CRI until it
// shows every container EXITED (or a minute passes).
func outage(ctx context.Context, node *cri.Node, contenders []*contender, pods int, d time.Duration, runsc string) error {
	type victim struct {
		c    *contender
		id   string
		code int
		seen time.Duration
		// shimAlive: its shim was still running when containerd started
		// again.
		shimAlive bool
	}
	var victims []*victim
	code := 10
	for p := 0; p < pods; p++ {
		for _, c := range contenders {
			pod, err := node.RunPod(ctx, c.handler, "outage")
			if err != nil {
				return err
			}
			defer pod.Remove(context.WithoutCancel(ctx))
			code++
			id, err := pod.Run(ctx, cri.Container{Name: "exits", Command: []string{"sh", "-c", fmt.Sprintf("trap 'exit %d' TERM; sleep 3600 & wait", code)}})
			if err != nil {
				return err
			}
			victims = append(victims, &victim{c: c, id: id, code: code})
		}
	}
	sleep(ctx, time.Second) // the traps are set
	progress("outage: stopping containerd for %v", d)
	stopped := time.Now()
	if err := node.Daemon.Stop(); err != nil {
		return err
	}
	sleep(ctx, d/4)
	for _, v := range victims {
		bin, root := runsc, node.OCIRoot(v.c.handler)
		if v.c.handler == cri.Runc {
			bin = "runc"
		}
		args := []string{"--root", root}
		if bin == runsc {
			args = append(args, runscFlags(node)...)
		}
		if out, err := exec.CommandContext(ctx, bin, append(args, "kill", v.id, "TERM")...).CombinedOutput(); err != nil {
			node.Daemon.Restart()
			return fmt.Errorf("%s kill %s: %w: %s", bin, v.id, err, strings.TrimSpace(string(out)))
		}
	}
	sleep(ctx, d-time.Since(stopped))
	for _, v := range victims {
		_, err := shimPid(v.id)
		v.shimAlive = err == nil
	}
	restarted := time.Now()
	if err := node.Daemon.Restart(); err != nil {
		return err
	}
	progress("outage: containerd started again after %v", restarted.Sub(stopped).Round(100*time.Millisecond))
	deadline := restarted.Add(time.Minute)
	var criServing time.Duration
	for left := len(victims); left > 0 && time.Now().Before(deadline); {
		var list struct {
			Containers []struct {
				ID    string `json:"id"`
				State string `json:"state"`
			} `json:"containers"`
		}
		if err := node.CrictlJSON(ctx, &list, "ps", "-a"); err == nil {
			now := time.Since(restarted)
			if criServing == 0 {
				criServing = now
			}
			exited := map[string]bool{}
			for _, c := range list.Containers {
				exited[c.ID] = c.State == "CONTAINER_EXITED"
			}
			for _, v := range victims {
				if v.seen == 0 && exited[v.id] {
					v.seen, left = now, left-1
				}
			}
		}
		sleep(ctx, 100*time.Millisecond)
	}
	for _, c := range contenders {
		o := &cribench.Outage{CRIServingMs: ms(criServing)}
		var after []time.Duration
		for _, v := range victims {
			if v.c != c {
				continue
			}
			o.Containers++
			if v.shimAlive {
				o.ShimAlive++
			}
			if v.seen == 0 {
				o.NotExited++
				continue
			}
			after = append(after, v.seen)
			st, err := node.Status(ctx, v.id)
			if err != nil {
				return err
			}
			if st.ExitCode == int32(v.code) {
				o.RightCode++
			} else {
				o.WrongCode++
				progress("outage: %s: %s exited %d, CRI shows %d (%s); containerd's log of it:\n%s", c.name, v.id, v.code, st.ExitCode, st.Reason, logOf(node, v.id))
			}
		}
		o.AfterRestart = cribench.Summarize(after)
		// The memory pods' containers ran on across the outage.
		for _, id := range c.containers {
			o.Running++
			if st, err := node.Status(ctx, id); err == nil && st.State == "CONTAINER_RUNNING" {
				if _, err := shimPid(id); err == nil {
					o.StillRunning++
				}
			}
		}
		c.out.Outage = o
	}
	return nil
}

// logOf returns the last lines of containerd's log that name id, for a
// wrong exit code's report.
func logOf(node *cri.Node, id string) string {
	b, _ := os.ReadFile(node.Daemon.LogPath)
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, id) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines[max(0, len(lines)-8):], "\n")
}

// podShimMemory counts the shim processes of a pod with one app container
// (the sandbox's and the container's) and sums their USS and PSS (KiB).
func podShimMemory(podID, containerID string) (n, uss, pss int, err error) {
	for _, id := range []string{podID, containerID} {
		pid, err := shimPid(id)
		if err != nil {
			return 0, 0, 0, err
		}
		u, err := procmem.Read(pid)
		if err != nil {
			return 0, 0, 0, err
		}
		n, uss, pss = n+1, uss+u.USS, pss+u.PSS
	}
	return n, uss, pss, nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the CPU a process used, with that of the children it waited
// for (utime+stime+cutime+cstime); 0 if it is gone.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	var total time.Duration
	for _, i := range []int{11, 12, 13, 14} { // utime stime cutime cstime
		n, _ := strconv.ParseInt(f[i], 10, 64)
		total += time.Duration(n) * clockTick
	}
	return total
}

// shimPid finds the shim serving container id.
func shimPid(id string) (int, error) {
	for pid, argv := range cri.Processes() {
		if isShimOf(argv, id) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no shim for container %s", id)
}

// isShimOf reports whether argv is the running shim of container id. A v1
// shim (ours, containerd-shim) is started with the container's work
// directory, which ends in the id; a v2 shim with -id <id> (its `start`
// invocation, with the same flags, is transient and not counted).
func isShimOf(argv []string, id string) bool {
	if !strings.Contains(filepath.Base(argv[0]), "shim") {
		return false
	}
	v2 := false
	for i, a := range argv {
		switch {
		case a == "start":
			return false
		case a == "-workdir" && i+1 < len(argv) && filepath.Base(argv[i+1]) == id:
			return true
		case a == "-id" && i+1 < len(argv) && argv[i+1] == id:
			v2 = true
		}
	}
	return v2
}

// startAndExit starts a pod whose container exits after exitAfter, and
// returns how long runp+create+start took until CRI showed RUNNING, and how
// long after the exit CRI showed EXITED (polling with crictl inspect).
func startAndExit(ctx context.Context, node *cri.Node, handler string) (start, exit time.Duration, err error) {
	t0 := time.Now()
	pod, err := node.RunPod(ctx, handler, "bench")
	if err != nil {
		return 0, 0, err
	}
	defer pod.Remove(context.WithoutCancel(ctx))
	id, err := pod.Run(ctx, cri.Container{Name: "short", Command: []string{"sleep", fmt.Sprint(exitAfter.Seconds())}})
	if err != nil {
		return 0, 0, err
	}
	started := time.Now()
	st, err := node.Status(ctx, id)
	if err != nil {
		return 0, 0, err
	}
	if st.State != "CONTAINER_RUNNING" {
		return 0, 0, fmt.Errorf("after start: %s, want CONTAINER_RUNNING (start and inspect took %v: raise -exit-after above it)", st.State, time.Since(t0).Round(time.Millisecond))
	}
	start = time.Since(t0)
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := node.WaitExited(waitCtx, id); err != nil {
		return 0, 0, err
	}
	return start, time.Since(started) - exitAfter, nil
}

func printReport(r *cribench.Report) {
	fmt.Printf("\n%s; %d CPUs, load average %.2f at the start, %.2f at the end\n", r.Machine.Containerd, r.Machine.CPUs, first(r.Machine.LoadavgStart), first(r.Machine.LoadavgEnd))
	fmt.Printf("%d rounds, shims alternating; %d exec probes per variant, interleaved; times are wall clock around crictl\n\n", r.Config.Rounds, r.Config.Probes)
	fmt.Println("| measure | shim | p50 | p90 | max |\n|---|---|---|---|---|")
	for _, c := range r.Contenders {
		row("pod start (runp+create+start until RUNNING)", c.Name, c.PodStart)
	}
	for _, c := range r.Contenders {
		row(fmt.Sprintf("exit until CRI shows EXITED (after the %v run)", exitAfter), c.Name, c.ExitSeen)
	}
	for _, p := range r.Probes {
		row("exec probe (crictl exec -s, true)", p.Name, p.Wall)
	}
	fmt.Print("\nCPU per exec probe (mean; shim = the container's shim and the children it reaped: runsc exec, containerd publish; floor = runsc exec and its children)\n\n")
	fmt.Println("| variant | shim + children | containerd |\n|---|---|---|")
	for _, p := range r.Probes {
		if p.Wall.Count > 0 && !strings.HasSuffix(p.Name, "crictl version") {
			fmt.Printf("| %s | %.1f ms | %.1f ms |\n", p.Name, p.ShimCPUMs, p.ContainerdCPUMs)
		}
	}
	fmt.Printf("\nShims per pod (one app container) and their summed memory: idle (median of %d pods, %.0f s after start) and the probed pod %.0f s after its last probe\n\n", r.Config.MemoryPods, r.Config.SettleSeconds, r.Config.QuietSeconds)
	fmt.Println("| shim | processes | USS idle | PSS idle | USS after probes | PSS after probes |\n|---|---|---|---|---|---|")
	for _, c := range r.Contenders {
		fmt.Printf("| %s | %d | %s | %s | %s | %s |\n", c.Name, c.ShimProcessesPerPod, mib(c.IdleUSSKiB), mib(c.IdlePSSKiB), mib(c.ProbedUSSKiB), mib(c.ProbedPSSKiB))
	}
	if len(r.Contenders) > 0 && r.Contenders[0].Outage != nil {
		fmt.Printf("\nExits while containerd was stopped for %.0f s (SIGTERM through the runtime's CLI %.0f s in); after the restart\n\n", r.Config.OutageSeconds, r.Config.OutageSeconds/4)
		fmt.Println("| shim | containers | EXITED, right code | wrong code | not EXITED after 1 min | their shim alive at the restart | running across it, still RUNNING with their shim | shown after restart p50 | max | CRI answered after |\n|---|---|---|---|---|---|---|---|---|---|")
		for _, c := range r.Contenders {
			o := c.Outage
			fmt.Printf("| %s | %d | %d | %d | %d | %d | %d of %d | %s | %s | %s |\n", c.Name, o.Containers, o.RightCode, o.WrongCode, o.NotExited, o.ShimAlive, o.StillRunning, o.Running, msString(o.AfterRestart.P50Ms, o.AfterRestart.Count), msString(o.AfterRestart.MaxMs, o.AfterRestart.Count), msString(o.CRIServingMs, 1))
		}
	}
}

func row(measure, name string, s cribench.Stat) {
	fmt.Printf("| %s | %s | %s | %s | %s |\n", measure, name, msString(s.P50Ms, s.Count), msString(s.P90Ms, s.Count), msString(s.MaxMs, s.Count))
}

func msString(v float64, count int) string {
	if count == 0 {
		return "-"
	}
	return (time.Duration(v * float64(time.Millisecond))).Round(time.Millisecond / 10).String()
}

func mib(kib int) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

func first(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	return v[0]
}

func medianInt(v []int) int {
	s := append([]int(nil), v...)
	sort.Ints(s)
	return s[len(s)/2]
}

// binaryPath looks name up in PATH.
func binaryPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (make setup installs it)", name)
	}
	return p, nil
}

func version(bin, arg string) string {
	out, _ := exec.Command(bin, arg).Output()
	return strings.Join(strings.Fields(strings.SplitN(string(out), "\n", 2)[0]), " ")
}

func firstLine(path string) string {
	b, _ := os.ReadFile(path)
	return strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0])
}

func loadavg() []float64 {
	f := strings.Fields(firstLine("/proc/loadavg"))
	var v []float64
	for i := 0; i < 3 && i < len(f); i++ {
		x, _ := strconv.ParseFloat(f[i], 64)
		v = append(v, x)
	}
	return v
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05")}, args...)...)
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
