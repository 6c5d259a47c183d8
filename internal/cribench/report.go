// Package cribench is the JSON report of cmd/cri-bench, shared with
// cmd/publish-bench's cri-chart, which plots it: the plotting library stays
// in the bench module, out of the shim's.
package cribench

import (
	"encoding/json"
	"fmt"
	"github.com/google/gvisor-containerd-shim/internal/stats"
	"os"
	"time"
)

// Schema names the report's layout; it changes only when a field changes
// meaning or goes away.
const Schema = "cri-bench/1"

// Report is everything one cri-bench run measured.
type Report struct {
	Schema  string    `json:"schema"`
	Started time.Time `json:"started"`
	// Command is the command line that produced the report.
	Command string  `json:"command"`
	Machine Machine `json:"machine"`
	Config  Config  `json:"config"`
	// Contenders are the shims compared, in the order of the table.
	Contenders []Contender `json:"contenders"`
	// Probes are the exec probe variants: every contender's, then the fork
	// fallback's and the floors (bare runsc exec; crictl version).
	Probes []Probe `json:"probes"`
}

// Machine describes where the run took place.
type Machine struct {
	CPUs         int       `json:"cpus"`
	Kernel       string    `json:"kernel"`
	Containerd   string    `json:"containerd_version"`
	Runsc        string    `json:"runsc"`
	LoadavgStart []float64 `json:"loadavg_start"`
	LoadavgEnd   []float64 `json:"loadavg_end"`
}

// Config is the run's shape.
type Config struct {
	Rounds        int     `json:"rounds"`
	Probes        int     `json:"probes"`
	MemoryPods    int     `json:"memory_pods"`
	SettleSeconds float64 `json:"settle_seconds"`
	QuietSeconds  float64 `json:"quiet_seconds"`
	OutagePods    int     `json:"outage_pods"`
	OutageSeconds float64 `json:"outage_seconds"`
	ExitAfterMs   float64 `json:"exit_after_ms"`
}

// Contender is one shim's figures.
type Contender struct {
	Name string `json:"name"`
	// Label is the short name the chart shows.
	Label   string `json:"label"`
	Handler string `json:"handler"`
	// PodStart: runp + create + start until CRI shows the container RUNNING.
	PodStart Stat `json:"pod_start"`
	// ExitSeen: from the container's exit until CRI shows it EXITED.
	ExitSeen Stat `json:"exit_seen"`
	// ShimProcessesPerPod counts the shim processes of a pod with one app
	// container (the most over the memory pods).
	ShimProcessesPerPod int `json:"shim_processes_per_pod"`
	// IdleUSSKiB and IdlePSSKiB are a pod's shims' summed memory, the
	// median over the memory pods, read after settling.
	IdleUSSKiB int `json:"idle_uss_kib"`
	IdlePSSKiB int `json:"idle_pss_kib"`
	// ProbedUSSKiB and ProbedPSSKiB are the probed pod's shims' summed
	// memory after its exec probes, read once quiet.
	ProbedUSSKiB int `json:"probed_uss_kib"`
	ProbedPSSKiB int `json:"probed_pss_kib"`
	// Outage is nil when the run had no containerd outage.
	Outage *Outage `json:"outage,omitempty"`
}

// Outage is what CRI showed of exits that happened while containerd was
// stopped, after it started again.
type Outage struct {
	Containers int `json:"containers"`
	// RightCode counts containers CRI showed EXITED with the code they
	// exited with; WrongCode those it showed EXITED with another;
	// NotExited those it still did not show EXITED at the deadline.
	RightCode int `json:"right_code"`
	WrongCode int `json:"wrong_code"`
	NotExited int `json:"not_exited"`
	// ShimAlive counts those whose shim still ran when containerd started
	// again.
	ShimAlive int `json:"shim_alive"`
	// Running counts the containers that ran on across the outage (the
	// memory pods'); StillRunning those CRI still showed RUNNING after it,
	// with their shim alive.
	Running      int `json:"running"`
	StillRunning int `json:"still_running"`
	// AfterRestart: from containerd's start until CRI showed each exit
	// (polled with crictl ps -a every 100 ms); CRIServingMs: until CRI first
	// answered that poll, the least AfterRestart can be.
	AfterRestart Stat    `json:"after_restart"`
	CRIServingMs float64 `json:"cri_serving_ms"`
}

// Probe is one exec probe variant's figures.
type Probe struct {
	Name  string `json:"name"`
	Label string `json:"label"`
	Wall  Stat   `json:"wall"`
	// ShimCPUMs is the mean CPU per probe of the container's shim with the
	// children it reaped (for the runsc exec floor: the runsc exec process
	// and its children); ContainerdCPUMs that of containerd.
	ShimCPUMs       float64 `json:"shim_cpu_ms"`
	ContainerdCPUMs float64 `json:"containerd_cpu_ms"`
}

// Stat summarises durations, nearest-rank.
type Stat struct {
	Count int     `json:"count"`
	P50Ms float64 `json:"p50_ms"`
	P90Ms float64 `json:"p90_ms"`
	MaxMs float64 `json:"max_ms"`
}

// Summarize makes a Stat of samples, with the percentiles of the other
// benchmark tools (internal/stats: nearest rank).
func Summarize(samples []time.Duration) Stat {
	s := stats.Sorted(samples)
	ms := func(q float64) float64 { return float64(stats.Percentile(s, q)) / float64(time.Millisecond) }
	return Stat{Count: len(s), P50Ms: ms(0.5), P90Ms: ms(0.9), MaxMs: ms(1)}
}

// Write writes r as indented JSON to path.
func (r *Report) Write(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}

// Read reads a report written by Write.
func Read(path string) (*Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != Schema {
		return nil, fmt.Errorf("%s: schema %q, want %q", path, r.Schema, Schema)
	}
	return &r, nil
}
