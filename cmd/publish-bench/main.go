// Command publish-bench compares the ways a shim can publish events to
// containerd: forking `containerd publish` per event, our publisher over
// gRPC and over ttrpc, and a bare ttrpc Forward loop (the floor: what the
// daemon itself costs). It runs the same workloads through every path in
// alternating rounds and reports latency to a subscriber, throughput, and
// CPU per event of the publishing side and of the daemon.
//
// docs/benchmarks.md describes the workloads, the output and a real run.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/containerd/containerd"
	"github.com/containerd/containerd/namespaces"
	"github.com/google/gvisor-containerd-shim/internal/containerdtest"
	"github.com/google/gvisor-containerd-shim/internal/ctrdaemon"
	"github.com/sirupsen/logrus"
	"golang.org/x/sys/unix"
)

type options struct {
	address         string
	binary          string
	daemonPid       int
	namespace       string
	paths           []string
	workloads       []string
	events          int
	rounds          int
	churnContainers int
	churnRate       float64
	churnProbes     int
	probeInterval   time.Duration
	idle            time.Duration
	jsonFile        string
	chartFile       string
	cpuProfile      string
	exitRate        float64
	quiet           bool
}

func main() {
	runSubscriberIfChild()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == "footprint":
		_, err = footprint(os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "burst":
		_, err = burst(ctx, os.Args[2:], os.Stdout)
	case len(os.Args) > 1 && os.Args[1] == "cri-chart":
		err = criChart(os.Args[2:])
	default:
		_, err = run(ctx, os.Args[1:], os.Stdout)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintf(os.Stderr, "publish-bench: %v\n", err)
		}
		os.Exit(1)
	}
}

func parseOptions(args []string) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("publish-bench", flag.ContinueOnError)
	fs.StringVar(&o.address, "address", "", "containerd gRPC socket to publish to; empty starts a throwaway daemon for the run")
	fs.StringVar(&o.binary, "containerd-binary", "containerd", "containerd binary the fork path runs as `containerd publish`")
	fs.IntVar(&o.daemonPid, "daemon-pid", 0, "pid of the daemon at -address for its CPU figures; 0 finds the socket's owner")
	fs.StringVar(&o.namespace, "namespace", "publish-bench", "namespace of the published events")
	paths := fs.String("paths", strings.Join(allPaths, ","), "paths to compare, comma-separated: fork, grpc, ttrpc, floor")
	workloads := fs.String("workloads", strings.Join(allWorkloads, ","), "workloads, comma-separated: sequential, stream, churn")
	fs.IntVar(&o.events, "events", 1000, "events per path for the sequential and for the stream workload")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds the events are split into; paths alternate within each round")
	fs.IntVar(&o.churnContainers, "churn-containers", 50, "containers per path in the churn workload")
	fs.Float64Var(&o.churnRate, "churn-rate", 10, "containers started per second in the churn workload")
	fs.IntVar(&o.churnProbes, "churn-probes", 2, "exec-probe exits each churn container publishes before its init exit")
	fs.DurationVar(&o.probeInterval, "churn-probe-interval", 20*time.Millisecond, "time between a churn container's exits")
	fs.DurationVar(&o.idle, "timeout", 10*time.Second, "an event not seen by the subscriber this long after the last arrival counts as lost")
	fs.StringVar(&o.jsonFile, "json", "", "write every figure to this JSON file")
	fs.StringVar(&o.chartFile, "chart", "", "write the latency chart to this .svg or .png file")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a pprof CPU profile of the measured rounds (this process only, not the children) to this file")
	fs.Float64Var(&o.exitRate, "cluster-exit-rate", 10, "exits per second per node for the cluster projection of CPU cost")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	var err error
	if o.paths, err = parseList(*paths, allPaths, "path"); err != nil {
		return nil, err
	}
	if o.workloads, err = parseList(*workloads, allWorkloads, "workload"); err != nil {
		return nil, err
	}
	switch {
	case o.events < 1:
		return nil, fmt.Errorf("-events must be at least 1, not %d", o.events)
	case o.rounds < 1 || o.rounds > o.events:
		return nil, fmt.Errorf("-rounds must be between 1 and -events (%d), not %d", o.events, o.rounds)
	case o.churnContainers < o.rounds && contains(o.workloads, workloadChurn):
		return nil, fmt.Errorf("-churn-containers must be at least -rounds (%d), not %d", o.rounds, o.churnContainers)
	case !(o.churnRate > 0):
		return nil, fmt.Errorf("-churn-rate must be above 0, not %g", o.churnRate)
	case o.churnProbes < 0:
		return nil, fmt.Errorf("-churn-probes must not be negative")
	case o.probeInterval < 0:
		return nil, fmt.Errorf("-churn-probe-interval must not be negative")
	case !(o.exitRate > 0):
		return nil, fmt.Errorf("-cluster-exit-rate must be above 0, not %g", o.exitRate)
	case o.idle <= 0:
		return nil, fmt.Errorf("-timeout must be positive")
	case o.namespace == "":
		return nil, fmt.Errorf("-namespace must not be empty")
	case o.chartFile != "" && chartFormat(o.chartFile) == "":
		return nil, fmt.Errorf("-chart %s: want a .svg or .png file name", o.chartFile)
	}
	return o, nil
}

func parseList(s string, known []string, what string) ([]string, error) {
	var out []string
	for _, name := range strings.Split(s, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !contains(known, name) {
			return nil, fmt.Errorf("unknown %s %q (want %s)", what, name, strings.Join(known, ", "))
		}
		if contains(out, name) {
			return nil, fmt.Errorf("%s %q given twice", what, name)
		}
		out = append(out, name)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no %s given", what)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// reaperOnce makes this process reap like a shim, once: the fork path
// starts and waits its children through containerd's reaper, and reaping
// every child on SIGCHLD is also what puts each `containerd publish`'s CPU
// into RUSAGE_CHILDREN as soon as it exits.
var reaperOnce sync.Once

// run does a whole benchmark and prints the table to stdout.
func run(ctx context.Context, args []string, stdout io.Writer) (*Report, error) {
	o, err := parseOptions(args)
	if err != nil {
		return nil, err
	}
	// The publisher logs each connection at info level; a benchmark opens
	// hundreds of them (one per churn container).
	logrus.SetLevel(logrus.WarnLevel)
	if contains(o.paths, pathFork) {
		if _, err := exec.LookPath(o.binary); err != nil {
			return nil, fmt.Errorf("the fork path needs the containerd binary: %w (install Debian's containerd package, pass -containerd-binary, or leave fork out of -paths)", err)
		}
	}
	rep := &Report{
		Schema:  schemaVersion,
		Started: time.Now().UTC(),
		Machine: machineInfo(),
		Config: RunConfig{
			Address: o.address, Paths: o.paths, Workloads: o.workloads, Rounds: o.rounds, Events: o.events,
			ChurnContainers: o.churnContainers, ChurnRate: o.churnRate, ChurnProbes: o.churnProbes,
			ChurnProbeIntervalMS: float64(o.probeInterval) / float64(time.Millisecond),
		},
	}
	if o.address == "" {
		d, err := ctrdaemon.New(ctrdaemon.Config{})
		if err != nil {
			return nil, fmt.Errorf("start a throwaway containerd: %w", err)
		}
		defer d.Close()
		o.address, o.daemonPid = d.Address, d.Pid()
		rep.Config.Address, rep.Config.EmbeddedDaemon = d.Address, true
	} else {
		if err := checkDaemon(o.address); err != nil {
			return nil, err
		}
		if o.daemonPid == 0 {
			if o.daemonPid, err = socketOwner(o.address); err != nil {
				fmt.Fprintf(os.Stderr, "publish-bench: daemon CPU not measured: %v (pass -daemon-pid)\n", err)
			}
		}
	}
	rep.Config.DaemonPid = o.daemonPid
	rep.Machine.ContainerdVersion = daemonVersion(o.address)
	reaperOnce.Do(containerdtest.ReapChildren)

	sub, err := startSubscriber(o.address, o.namespace)
	if err != nil {
		return nil, err
	}
	defer sub.stop()
	ctx = namespaces.WithNamespace(ctx, o.namespace)
	r := &runner{
		target: target{address: o.address, binary: o.binary},
		sub:    sub,
		meter:  cpuMeter{daemonPid: o.daemonPid},
		idle:   o.idle,
		churnCfg: churnConfig{rate: o.churnRate, probes: o.churnProbes, probeInterval: o.probeInterval,
			interval: time.Duration(float64(time.Second) / o.churnRate)},
	}
	if err := r.waitSubscribed(ctx); err != nil {
		return nil, err
	}
	rep.Idle = r.idleBaseline(time.Second)
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return nil, err
		}
	}
	r.progress = newProgress(o.quiet, o.totalEvents())
	err = r.rounds(ctx, o)
	r.progress.close()
	if o.cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	if err != nil {
		return nil, err
	}
	rep.Machine.LoadAvgEnd = loadAvg()
	rep.Results = buildResults(r.samples, o.workloads, o.paths, rep.Idle)
	rep.Targets = checkTargets(rep.Results)
	rep.Cluster = projectCluster(rep.Results, o.exitRate)
	if o.jsonFile != "" {
		if err := writeJSON(o.jsonFile, rep); err != nil {
			return nil, fmt.Errorf("write %s: %w", o.jsonFile, err)
		}
	}
	if o.chartFile != "" {
		if err := writeChart(o.chartFile, rep.Results, o.workloads, o.paths); err != nil {
			return nil, err
		}
	}
	printTable(stdout, rep)
	// A benchmark that lost or reordered events measured something broken.
	for _, r := range rep.Results {
		if r.Lost+r.Unsent+r.OutOfOrder+r.Duplicates > 0 {
			return rep, fmt.Errorf("%s/%s: %d lost, %d not sent, %d out of order, %d duplicates (figures above are not comparable)",
				r.Workload, r.Path, r.Lost, r.Unsent, r.OutOfOrder, r.Duplicates)
		}
	}
	return rep, nil
}

func (o *options) totalEvents() int64 {
	per := 0
	for _, w := range o.workloads {
		if w == workloadChurn {
			per += o.churnContainers * (o.churnProbes + 1)
		} else {
			per += o.events
		}
	}
	return int64(per * len(o.paths))
}

// rounds runs every workload on every path once per round, rotating the
// path order each round so that no path always runs first or last.
func (r *runner) rounds(ctx context.Context, o *options) error {
	for round := 0; round < o.rounds; round++ {
		order := append(append([]string(nil), o.paths[round%len(o.paths):]...), o.paths[:round%len(o.paths)]...)
		for _, w := range o.workloads {
			for _, path := range order {
				if err := ctx.Err(); err != nil {
					return fmt.Errorf("interrupted: %w", err)
				}
				r.progress.setPhase(fmt.Sprintf("round %d/%d %s %s", round+1, o.rounds, w, path))
				var err error
				switch w {
				case workloadSequential:
					err = r.sequential(ctx, path, share(o.events, o.rounds, round))
				case workloadStream:
					err = r.stream(ctx, path, share(o.events, o.rounds, round))
				case workloadChurn:
					err = r.churn(ctx, path, share(o.churnContainers, o.rounds, round))
				}
				if err != nil {
					return fmt.Errorf("%s %s: %w", w, path, err)
				}
			}
		}
	}
	return nil
}

// share splits n into parts as equal as possible.
func share(n, parts, i int) int {
	s := n / parts
	if i < n%parts {
		s++
	}
	return s
}

// waitSubscribed sends probe events until one reaches the subscriber: a
// subscription is registered in the daemon some time after the client asks.
func (r *runner) waitSubscribed(ctx context.Context) error {
	s, err := openPath(pathFloor, r.target)
	if err != nil {
		return err
	}
	defer s.close(ctx)
	deadline := time.Now().Add(r.idle)
	for time.Now().Before(deadline) {
		seq := r.nextSeq.Add(1)
		if err := s.publish(ctx, exitEvent(seq, "")); err != nil {
			return fmt.Errorf("probe event: %w", err)
		}
		_, err := r.await(seq, 100*time.Millisecond)
		if err == nil || errors.Is(err, errSubscriberGone) {
			return err
		}
	}
	return fmt.Errorf("the subscriber saw no event within %s", r.idle)
}

// idleBaseline measures the CPU both sides use with nothing published. The
// paced churn workload's per-event figures include it for its duration.
func (r *runner) idleBaseline(d time.Duration) IdleBaseline {
	before := r.meter.read()
	time.Sleep(d)
	after := r.meter.read()
	b := IdleBaseline{PublisherCPUPerSec: us(after.publisher-before.publisher) / d.Seconds()}
	if before.daemonOK && after.daemonOK {
		v := us(after.daemon-before.daemon) / d.Seconds()
		b.DaemonCPUPerSec = &v
	}
	return b
}

// checkDaemon fails clearly when nothing serves at address.
func checkDaemon(address string) error {
	if _, err := os.Stat(address); err != nil {
		return fmt.Errorf("no containerd socket at %s: %w (start containerd or omit -address for a throwaway daemon)", address, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := containerd.New(address, containerd.WithTimeout(3*time.Second))
	if err == nil {
		_, err = c.Version(ctx)
		c.Close()
	}
	if err != nil {
		return fmt.Errorf("containerd at %s does not answer: %w (is it running? omit -address for a throwaway daemon)", address, err)
	}
	if _, err := os.Stat(address + ".ttrpc"); err != nil {
		return fmt.Errorf("containerd at %s has no ttrpc socket %s.ttrpc: %w", address, address, err)
	}
	return nil
}

func daemonVersion(address string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	c, err := containerd.New(address, containerd.WithTimeout(3*time.Second))
	if err != nil {
		return ""
	}
	defer c.Close()
	v, err := c.Version(ctx)
	if err != nil {
		return ""
	}
	return v.Version + " " + v.Revision
}

func machineInfo() Machine {
	m := Machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), LoadAvgStart: loadAvg()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		m.Kernel = unix.ByteSliceToString(u.Sysname[:]) + " " + unix.ByteSliceToString(u.Release[:])
	}
	return m
}

func loadAvg() [3]float64 {
	var l [3]float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		fmt.Sscanf(string(b), "%f %f %f", &l[0], &l[1], &l[2])
	}
	return l
}
