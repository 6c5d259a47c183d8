package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/gvisor-containerd-shim/internal/cribench"
)

// A cri-bench report, as cri-bench writes it, is drawn in either format,
// one panel per figure, the outage's only when the run had one.
func TestCRIChart(t *testing.T) {
	dir := t.TempDir()
	r := &cribench.Report{Schema: cribench.Schema, Config: cribench.Config{OutageSeconds: 20}}
	for i, label := range []string{"ours", "gVisor's shim", "runc"} {
		s := cribench.Stat{Count: 3, P50Ms: float64(100 * (i + 1)), P90Ms: float64(150 * (i + 1)), MaxMs: 400}
		r.Contenders = append(r.Contenders, cribench.Contender{Name: label, Label: label, PodStart: s, ExitSeen: s,
			IdleUSSKiB: 3000, IdlePSSKiB: 5000, ProbedUSSKiB: 3500, ProbedPSSKiB: 5500,
			Outage: &cribench.Outage{Containers: 3, RightCode: 3 - i}})
		r.Probes = append(r.Probes, cribench.Probe{Name: label, Label: label, Wall: s, ShimCPUMs: 30})
	}
	r.Probes = append(r.Probes, cribench.Probe{Name: "crictl", Label: "crictl", Wall: cribench.Stat{Count: 3, P50Ms: 20}})
	if n := len(criPanels(r)); n != 6 {
		t.Errorf("%d panels, want 6", n)
	}
	if cpu := criPanels(r)[3]; len(cpu.labels) != 3 {
		t.Errorf("CPU panel labels %q: crictl has no CPU figure", cpu.labels)
	}
	report := filepath.Join(dir, "cri.json")
	if err := r.Write(report); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"cri.svg", "cri.png"} {
		out := filepath.Join(dir, name)
		if err := criChart([]string{"-json", report, "-chart", out}); err != nil {
			t.Fatal(err)
		}
		if st, err := os.Stat(out); err != nil || st.Size() < 1000 {
			t.Errorf("%s: %v, %v", name, st, err)
		}
	}
	svg, _ := os.ReadFile(filepath.Join(dir, "cri.svg"))
	if !strings.Contains(string(svg), "exits during a 20 s containerd outage") {
		t.Error("no outage panel in the SVG")
	}
	r.Contenders[0].Outage = nil
	if n := len(criPanels(r)); n != 5 {
		t.Errorf("without an outage: %d panels, want 5", n)
	}
	if err := criChart([]string{"-json", report, "-chart", filepath.Join(dir, "cri.gif")}); err == nil {
		t.Error("a .gif chart: no error")
	}
	os.WriteFile(report, []byte(`{"schema":"other/1"}`), 0o644)
	if err := criChart([]string{"-json", report, "-chart", filepath.Join(dir, "x.svg")}); err == nil || !strings.Contains(err.Error(), "schema") {
		t.Errorf("another schema: %v", err)
	}
}
