// Command cri-bench measures, through containerd's CRI plugin and crictl,
// runsc against runc in one run, alternating handlers round by round:
//   - pod start: runp + create + start until CRI shows the container RUNNING;
//   - a container's exit until CRI shows it EXITED;
//   - an exec probe (crictl exec -s <id> true) on runsc with the direct
//     publisher, on runsc with the fork fallback (publisher mode "exec",
//     a second containerd) and on runc.
//
// Every figure includes crictl's own start-up, printed as the floor.
// `make cri-bench` runs it; the figures in docs/cri.md come from it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/gvisor-containerd-shim/internal/cri"
	"github.com/google/gvisor-containerd-shim/internal/stats"
)

func main() {
	shim := flag.String("shim", "bin/gvisor-containerd-shim", "the built shim binary")
	rounds := flag.Int("rounds", 10, "pods started per handler")
	probes := flag.Int("probes", 60, "exec probes per variant")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, *shim, *rounds, *probes)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "cri-bench:", err)
		os.Exit(1)
	}
}

// exitAfter is how long the measured container runs before it exits.
const exitAfter = time.Second

func run(ctx context.Context, shimPath string, rounds, probes int) error {
	if os.Geteuid() != 0 {
		return errors.New("needs root (containerd and runsc do)")
	}
	shim, err := filepath.Abs(shimPath)
	if err != nil {
		return err
	}
	direct, err := cri.Start(ctx, cri.Options{Shim: shim})
	if err != nil {
		return err
	}
	defer direct.Close()
	fork, err := cri.Start(ctx, cri.Options{Shim: shim, ShimConfig: direct.ShimConfig + "[publisher]\n  mode = \"exec\"\n"})
	if err != nil {
		return err
	}
	defer fork.Close()

	handlers := []string{cri.Runsc, cri.Runc}
	podStart := map[string][]time.Duration{}
	exitSeen := map[string][]time.Duration{}
	for r := 0; r < rounds; r++ {
		for i := range handlers {
			h := handlers[(r+i)%len(handlers)] // alternate which goes first
			start, exit, err := startAndExit(ctx, direct, h)
			if err != nil {
				return fmt.Errorf("%s, round %d: %w", h, r, err)
			}
			podStart[h] = append(podStart[h], start)
			exitSeen[h] = append(exitSeen[h], exit)
		}
		fmt.Fprintf(os.Stderr, "round %d/%d\n", r+1, rounds)
	}

	type variant struct {
		name    string
		node    *cri.Node
		handler string
		id      string
	}
	variants := []*variant{
		{name: "runsc, direct publisher", node: direct, handler: cri.Runsc},
		{name: "runsc, fork fallback (mode exec)", node: fork, handler: cri.Runsc},
		{name: "runc (containerd-shim)", node: direct, handler: cri.Runc},
	}
	for _, v := range variants {
		pod, err := v.node.RunPod(ctx, v.handler, "probe")
		if err != nil {
			return err
		}
		defer pod.Remove(context.WithoutCancel(ctx))
		if v.id, err = pod.Run(ctx, cri.Container{Name: "probed", Command: []string{"sleep", "3600"}}); err != nil {
			return err
		}
	}
	probe := map[string][]time.Duration{}
	shimCPU, daemonCPU := map[string]time.Duration{}, map[string]time.Duration{}
	var floor []time.Duration
	for p := 0; p < probes; p++ {
		for i := range variants {
			v := variants[(p+i)%len(variants)]
			shim, err := shimPid(v.id)
			if err != nil {
				return err
			}
			shim0, daemon0 := cpuTime(shim), cpuTime(v.node.Daemon.Pid())
			t0 := time.Now()
			if _, err := v.node.Crictl(ctx, "exec", "-s", v.id, "true"); err != nil {
				return fmt.Errorf("%s: %w", v.name, err)
			}
			probe[v.name] = append(probe[v.name], time.Since(t0))
			// The shim reaps what it forks (runsc exec, containerd
			// publish): allow it a moment, then count its children too.
			time.Sleep(50 * time.Millisecond)
			shimCPU[v.name] += cpuTime(shim) - shim0
			daemonCPU[v.name] += cpuTime(v.node.Daemon.Pid()) - daemon0
		}
		t0 := time.Now()
		if _, err := direct.Crictl(ctx, "version"); err != nil {
			return err
		}
		floor = append(floor, time.Since(t0))
	}

	fmt.Printf("\n%d rounds, handlers alternating; %d exec probes per variant, interleaved; times are wall clock around crictl\n\n", rounds, probes)
	fmt.Println("| measure | handler | p50 | p90 | max |\n|---|---|---|---|---|")
	for _, h := range handlers {
		row("pod start (runp+create+start until RUNNING)", h, podStart[h])
	}
	for _, h := range handlers {
		row(fmt.Sprintf("exit until CRI shows EXITED (after the %v run)", exitAfter), h, exitSeen[h])
	}
	for _, v := range variants {
		row("exec probe (crictl exec -s, true)", v.name, probe[v.name])
	}
	row("crictl floor (crictl version)", "-", floor)
	fmt.Print("\nCPU per exec probe (mean over the probes; shim = the container's shim and the children it reaped: runsc exec, containerd publish)\n\n")
	fmt.Println("| variant | shim + children | containerd |\n|---|---|---|")
	for _, v := range variants {
		fmt.Printf("| %s | %.1f ms | %.1f ms |\n", v.name, ms(shimCPU[v.name])/float64(probes), ms(daemonCPU[v.name])/float64(probes))
	}
	saved := stats.Median(probe[variants[1].name]) - stats.Median(probe[variants[0].name])
	savedCPU := (shimCPU[variants[1].name] + daemonCPU[variants[1].name] - shimCPU[variants[0].name] - daemonCPU[variants[0].name]) / time.Duration(probes)
	fmt.Printf("\nThe direct publisher saves %v of wall clock at the median and %.1f ms of CPU per exec probe (fork fallback minus direct, same runsc).\n", saved.Round(100*time.Microsecond), ms(savedCPU))
	return nil
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

// shimPid finds the shim of container id: containerd starts it with the
// container's work directory, which ends in the id.
func shimPid(id string) (int, error) {
	for pid, argv := range cri.Processes() {
		for i, a := range argv {
			if a == "-workdir" && i+1 < len(argv) && filepath.Base(argv[i+1]) == id {
				return pid, nil
			}
		}
	}
	return 0, fmt.Errorf("no shim for container %s", id)
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
		return 0, 0, fmt.Errorf("after start: %s, want CONTAINER_RUNNING", st.State)
	}
	start = time.Since(t0)
	waitCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if _, err := node.WaitExited(waitCtx, id); err != nil {
		return 0, 0, err
	}
	return start, time.Since(started) - exitAfter, nil
}

func row(measure, handler string, ds []time.Duration) {
	sorted := stats.Sorted(ds)
	q := func(p float64) string {
		if len(sorted) == 0 {
			return "-"
		}
		return stats.Percentile(sorted, p).Round(time.Millisecond / 10).String()
	}
	fmt.Printf("| %s | %s | %s | %s | %s |\n", measure, handler, q(0.5), q(0.9), q(1))
}
