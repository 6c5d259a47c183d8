package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"text/tabwriter"
	"time"
)

// schemaVersion names the JSON layout; bump it when a field changes meaning
// or goes away (adding fields keeps it).
const schemaVersion = "publish-bench/1"

// Report is the -json output. docs/benchmarks.md documents every field.
type Report struct {
	Schema  string       `json:"schema"`
	Started time.Time    `json:"started"`
	Machine Machine      `json:"machine"`
	Config  RunConfig    `json:"config"`
	Idle    IdleBaseline `json:"idle_baseline"`
	Results []Result     `json:"results"`
	Targets []Target     `json:"targets"`
	Cluster *Cluster     `json:"cluster,omitempty"`
}

// Cluster projects CPU per event (publishing side plus daemon) onto a node
// with a steady rate of exits. It takes the churn workload's figures when
// there are some: sparse exits, each shim with its own connection, are what
// a node sees. Otherwise the sequential workload's.
type Cluster struct {
	ExitsPerSec  float64 `json:"exits_per_sec"`
	FromWorkload string  `json:"from_workload"`
	// CPU seconds per hour each path costs at that rate, and what each
	// saves against the fork path.
	CPUSecondsPerHour map[string]float64 `json:"cpu_seconds_per_hour"`
	SavedVsFork       map[string]float64 `json:"cpu_seconds_per_hour_saved_vs_fork"`
}

func projectCluster(results []Result, exitsPerSec float64) *Cluster {
	for _, w := range []string{workloadChurn, workloadSequential} {
		c := &Cluster{ExitsPerSec: exitsPerSec, FromWorkload: w,
			CPUSecondsPerHour: map[string]float64{}, SavedVsFork: map[string]float64{}}
		for _, r := range results {
			if r.Workload == w && r.DaemonCPUPerEvt != nil {
				c.CPUSecondsPerHour[r.Path] = (r.CPUPerEvent + *r.DaemonCPUPerEvt) / 1e6 * exitsPerSec * 3600
			}
		}
		if len(c.CPUSecondsPerHour) == 0 {
			continue
		}
		if fork, ok := c.CPUSecondsPerHour[pathFork]; ok {
			for p, v := range c.CPUSecondsPerHour {
				if p != pathFork {
					c.SavedVsFork[p] = fork - v
				}
			}
		}
		return c
	}
	return nil
}

// IdleBaseline is the CPU each side used per second while nothing was
// published, measured once before the rounds.
type IdleBaseline struct {
	PublisherCPUPerSec float64  `json:"publisher_cpu_us_per_sec"`
	DaemonCPUPerSec    *float64 `json:"daemon_cpu_us_per_sec"`
}

// Machine is what a report says of the machine and its load, on its first
// line: figures from a loaded or different machine are not comparable.
type Machine struct {
	CPUs              int        `json:"cpus"`
	CPUModel          string     `json:"cpu_model"`
	Kernel            string     `json:"kernel"`
	GoVersion         string     `json:"go_version"`
	ContainerdVersion string     `json:"containerd_version"`
	LoadAvgStart      [3]float64 `json:"loadavg_start"`
	LoadAvgEnd        [3]float64 `json:"loadavg_end"`
}

// RunConfig is the publish comparison's options, as the report records them.
type RunConfig struct {
	Address              string   `json:"address"`
	EmbeddedDaemon       bool     `json:"embedded_daemon"`
	DaemonPid            int      `json:"daemon_pid"` // 0: unknown, daemon CPU not measured
	Paths                []string `json:"paths"`
	Workloads            []string `json:"workloads"`
	Rounds               int      `json:"rounds"`
	Events               int      `json:"events"` // per path, for sequential and for stream
	ChurnContainers      int      `json:"churn_containers"`
	ChurnRate            float64  `json:"churn_rate"` // containers per second
	ChurnProbes          int      `json:"churn_probes"`
	ChurnProbeIntervalMS float64  `json:"churn_probe_interval_ms"`
}

// Result holds the figures of one path on one workload, over all rounds.
type Result struct {
	Workload        string        `json:"workload"`
	Path            string        `json:"path"`
	Published       int           `json:"published"`
	Received        int           `json:"received"`
	Lost            int           `json:"lost"`
	Unsent          int           `json:"unsent"`
	OutOfOrder      int           `json:"out_of_order"`
	Duplicates      int           `json:"duplicates"`
	PublishErrors   int           `json:"publish_errors"`
	FirstError      string        `json:"first_error,omitempty"`
	Latency         LatencyStats  `json:"latency"`
	AckLatency      *LatencyStats `json:"ack_latency,omitempty"`
	EventsPerSec    float64       `json:"events_per_sec"`
	BusySeconds     float64       `json:"busy_seconds"`
	CPUPerEvent     float64       `json:"publisher_cpu_us_per_event"`
	DaemonCPUPerEvt *float64      `json:"daemon_cpu_us_per_event"` // null when not measured
	// The same less the idle baseline over the measured window: what the
	// events themselves cost, for paced workloads where idle time is long.
	CPUPerEventNet     float64  `json:"publisher_cpu_us_per_event_net_of_idle"`
	DaemonCPUPerEvtNet *float64 `json:"daemon_cpu_us_per_event_net_of_idle"`
	CPUWindowSeconds   float64  `json:"cpu_window_seconds"`
	VsFork             *Ratios  `json:"vs_fork,omitempty"`
	VsFloor            *Ratios  `json:"vs_floor,omitempty"`

	samples []time.Duration
}

// Ratios divide a path's figure by the reference path's (this / reference):
// below 1 means less latency or CPU than the reference.
type Ratios struct {
	LatencyP50   float64  `json:"latency_p50"`
	LatencyP99   float64  `json:"latency_p99"`
	AckP50       *float64 `json:"ack_latency_p50,omitempty"`
	PublisherCPU float64  `json:"publisher_cpu"`
	DaemonCPU    *float64 `json:"daemon_cpu"`
	EventsPerSec float64  `json:"events_per_sec"`
}

// Target is one of the goals, checked on this run's figures.
type Target struct {
	Name      string  `json:"name"`
	Value     float64 `json:"value"`
	Op        string  `json:"op"` // ">=" or "<="
	Threshold float64 `json:"threshold"`
	Met       bool    `json:"met"`
}

func buildResults(samples map[string]map[string]*sample, workloads, paths []string, idle IdleBaseline) []Result {
	var out []Result
	for _, w := range workloads {
		for _, p := range paths {
			s := samples[w][p]
			if s == nil {
				continue
			}
			r := Result{
				Workload: w, Path: p,
				Published: s.published, Received: s.received, Lost: s.lost, Unsent: s.unsent,
				OutOfOrder: s.outOfOrder, Duplicates: s.duplicates,
				PublishErrors: s.errors, FirstError: s.firstError,
				Latency:     summarize(s.latencies),
				BusySeconds: s.busy.Seconds(),
				samples:     s.latencies,
			}
			if len(s.acks) > 0 {
				a := summarize(s.acks)
				r.AckLatency = &a
			}
			if s.busy > 0 {
				r.EventsPerSec = float64(s.received) / s.busy.Seconds()
			}
			r.CPUWindowSeconds = s.cpu.window.Seconds()
			if s.received > 0 {
				n := float64(s.received)
				r.CPUPerEvent = us(s.cpu.publisher) / n
				r.CPUPerEventNet = max(0, us(s.cpu.publisher)-idle.PublisherCPUPerSec*r.CPUWindowSeconds) / n
				if s.cpu.daemonOK {
					v := us(s.cpu.daemon) / n
					r.DaemonCPUPerEvt = &v
					if idle.DaemonCPUPerSec != nil {
						net := max(0, us(s.cpu.daemon)-*idle.DaemonCPUPerSec*r.CPUWindowSeconds) / n
						r.DaemonCPUPerEvtNet = &net
					}
				}
			}
			out = append(out, r)
		}
	}
	for i := range out {
		if ref := find(out, out[i].Workload, pathFork); ref != nil && out[i].Path != pathFork {
			out[i].VsFork = ratios(&out[i], ref)
		}
		if ref := find(out, out[i].Workload, pathFloor); ref != nil && out[i].Path != pathFloor {
			out[i].VsFloor = ratios(&out[i], ref)
		}
	}
	return out
}

func find(results []Result, workload, path string) *Result {
	for i := range results {
		if results[i].Workload == workload && results[i].Path == path {
			return &results[i]
		}
	}
	return nil
}

func ratios(r, ref *Result) *Ratios {
	x := &Ratios{
		LatencyP50:   div(r.Latency.P50, ref.Latency.P50),
		LatencyP99:   div(r.Latency.P99, ref.Latency.P99),
		PublisherCPU: div(r.CPUPerEvent, ref.CPUPerEvent),
		EventsPerSec: div(r.EventsPerSec, ref.EventsPerSec),
	}
	if r.DaemonCPUPerEvt != nil && ref.DaemonCPUPerEvt != nil {
		v := div(*r.DaemonCPUPerEvt, *ref.DaemonCPUPerEvt)
		x.DaemonCPU = &v
	}
	if r.AckLatency != nil && ref.AckLatency != nil {
		v := div(r.AckLatency.P50, ref.AckLatency.P50)
		x.AckP50 = &v
	}
	return x
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// checkTargets evaluates the goals on this run. Latency and stream
// goals are set against the floor, a bare ttrpc client: what the daemon
// allows is the bound, and it varies with the machine. The fork ratios stay
// in the table as information. A run without a path a goal needs checks only
// what it can.
func checkTargets(results []Result) []Target {
	var out []Target
	add := func(name string, value float64, op string, threshold float64) {
		met := value >= threshold
		if op == "<=" {
			met = value <= threshold
		}
		out = append(out, Target{Name: name, Value: value, Op: op, Threshold: threshold, Met: met})
	}
	ttrpc := find(results, workloadSequential, pathTTRPC)
	grpc := find(results, workloadSequential, pathGRPC)
	if floor := find(results, workloadSequential, pathFloor); floor != nil {
		if ttrpc != nil {
			add("ttrpc_latency_p50_vs_floor_x", div(ttrpc.Latency.P50, floor.Latency.P50), "<=", 1.1)
		}
		if grpc != nil {
			add("grpc_latency_p50_vs_floor_x", div(grpc.Latency.P50, floor.Latency.P50), "<=", 1.5)
		}
	}
	if fork := find(results, workloadSequential, pathFork); ttrpc != nil && fork != nil {
		add("ttrpc_cpu_per_event_lower_than_fork_x", div(fork.CPUPerEvent, ttrpc.CPUPerEvent), ">=", 200)
	}
	s, floor := find(results, workloadStream, pathTTRPC), find(results, workloadStream, pathFloor)
	if s != nil && floor != nil {
		ordered := s.EventsPerSec
		if s.OutOfOrder > 0 || s.Lost > 0 || s.Unsent > 0 {
			ordered = 0 // an unordered or lossy stream does not count
		}
		add("ttrpc_ordered_stream_vs_floor_x", div(ordered, floor.EventsPerSec), ">=", 0.95)
	}
	return out
}

func writeJSON(path string, rep *Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// printTable writes the human summary. Ratio columns read "N× less than the
// fork path" and "N× the floor".
func printTable(out io.Writer, rep *Report) {
	for _, w := range rep.Config.Workloads {
		fmt.Fprintf(out, "\n%s\n", workloadTitle(w, rep.Config))
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
		fmt.Fprintln(tw, "path\tevents\tlost\tp50 µs\tp90 µs\tp99 µs\tmax µs\tack p50 µs\tevents/s\tcpu µs/ev\tdaemon µs/ev\tp50 fork÷\tcpu fork÷\tp50 ×floor\tcpu ×floor\t")
		for _, r := range rep.Results {
			if r.Workload != w {
				continue
			}
			daemon := "-"
			if r.DaemonCPUPerEvt != nil {
				daemon = fmt.Sprintf("%.1f", *r.DaemonCPUPerEvt)
			}
			ack := "-"
			if r.AckLatency != nil {
				ack = fmt.Sprintf("%.0f", r.AckLatency.P50)
			}
			forkLat, forkCPU, floorLat, floorCPU := "-", "-", "-", "-"
			if r.VsFork != nil {
				forkLat, forkCPU = inverse(r.VsFork.LatencyP50), inverse(r.VsFork.PublisherCPU)
			}
			if r.VsFloor != nil {
				floorLat, floorCPU = times(r.VsFloor.LatencyP50), times(r.VsFloor.PublisherCPU)
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%s\t%.0f\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n",
				r.Path, r.Received, r.Lost+r.Unsent, r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max,
				ack, r.EventsPerSec, r.CPUPerEvent, daemon, forkLat, forkCPU, floorLat, floorCPU)
		}
		tw.Flush()
	}
	for _, r := range rep.Results {
		if r.OutOfOrder > 0 || r.Duplicates > 0 || r.FirstError != "" {
			fmt.Fprintf(out, "\n%s/%s: %d out of order, %d duplicates, %d publish errors %s", r.Workload, r.Path,
				r.OutOfOrder, r.Duplicates, r.PublishErrors, r.FirstError)
		}
	}
	if c := rep.Cluster; c != nil {
		fmt.Fprintf(out, "\nat %g exits/s per node (%s CPU per event, publishing side + daemon):\n", c.ExitsPerSec, c.FromWorkload)
		for _, p := range rep.Config.Paths {
			v, ok := c.CPUSecondsPerHour[p]
			if !ok {
				continue
			}
			fmt.Fprintf(out, "  %-6s %8.1f CPU-s/hour", p, v)
			if saved, ok := c.SavedVsFork[p]; ok {
				fmt.Fprintf(out, "  (%.1f CPU-s/hour less than fork)", saved)
			}
			fmt.Fprintln(out)
		}
	}
	printTargets(out, "targets", rep.Targets, 40, 10, 8)
	fmt.Fprintln(out, "\nlatency: Publish call to the subscriber's receipt; ack: Publish call to the daemon's acknowledgement (publisher paths: Flush return).")
	fmt.Fprintln(out, "fork÷: the fork path's figure divided by this path's (N× less); ×floor: this path's figure over the floor's.")
}

func workloadTitle(w string, c RunConfig) string {
	switch w {
	case workloadSequential:
		return fmt.Sprintf("sequential: %d single events per path, each published once the previous one was acknowledged", c.Events)
	case workloadStream:
		return fmt.Sprintf("stream: %d events per path back to back, ordered; latency includes queueing", c.Events)
	case workloadChurn:
		return fmt.Sprintf("churn: %d containers per path at %g/s, each its own client with %d probe exits + init exit %gms apart",
			c.ChurnContainers, c.ChurnRate, c.ChurnProbes, c.ChurnProbeIntervalMS)
	}
	return w
}

func inverse(x float64) string {
	if x == 0 {
		return "-"
	}
	if 1/x < 10 {
		return fmt.Sprintf("%.2f×", 1/x)
	}
	return fmt.Sprintf("%.0f×", 1/x)
}

func times(x float64) string {
	if x == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", x)
}

// printTargets prints targets under title, one a line, its columns padded
// to the widths given (name, value, threshold); nothing without targets.
func printTargets(out io.Writer, title string, targets []Target, nameWidth, valueWidth, thresholdWidth int) {
	if len(targets) == 0 {
		return
	}
	fmt.Fprintln(out, "\n"+title)
	for _, t := range targets {
		mark := "met"
		if !t.Met {
			mark = "MISSED"
		}
		fmt.Fprintf(out, "  %-*s %*.2f %s %-*g %s\n", nameWidth, t.Name, valueWidth, t.Value, t.Op, thresholdWidth, t.Threshold, mark)
	}
}

// printMachine is the first line of the footprint and burst reports.
func printMachine(out io.Writer, m Machine) {
	fmt.Fprintf(out, "%d CPUs, load average %.2f at the start, %.2f at the end; containerd %s\n", m.CPUs, m.LoadAvgStart[0], m.LoadAvgEnd[0], m.ContainerdVersion)
}
