package main

import (
	"errors"
	"flag"
	"fmt"
	"image/color"
	"io"
	"os"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/google/gvisor-containerd-shim/internal/cribench"
)

// criChart draws cmd/cri-bench's JSON report: cri-bench lives in the shim's
// module, which must not link a plotting library, so its chart is drawn
// here.
func criChart(args []string) error {
	fs := flag.NewFlagSet("publish-bench cri-chart", flag.ContinueOnError)
	in := fs.String("json", "", "cri-bench's -json report to plot")
	out := fs.String("chart", "", "the chart to write (.svg or .png)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" || fs.NArg() > 0 {
		return errors.New("cri-chart: want -json <cri-bench report> -chart <file.svg|.png>")
	}
	r, err := cribench.Read(*in)
	if err != nil {
		return err
	}
	return writeCRIChart(*out, r)
}

// bars is one panel: groups of bars (one group per label), one bar per
// series, with the series' names in the legend.
type bars struct {
	title, unit string
	labels      []string
	series      []string
	values      [][]float64 // [series][label]
}

// criPanels are the report's figures as panels: times (p50 and p90), CPU
// per probe, memory per pod, and the outage's exits.
func criPanels(r *cribench.Report) []bars {
	var labels []string
	for _, c := range r.Contenders {
		labels = append(labels, c.Label)
	}
	quantiles := func(title string, stat func(cribench.Contender) cribench.Stat) bars {
		b := bars{title: title, unit: "ms", labels: labels, series: []string{"p50", "p90"}, values: make([][]float64, 2)}
		for _, c := range r.Contenders {
			s := stat(c)
			b.values[0], b.values[1] = append(b.values[0], s.P50Ms), append(b.values[1], s.P90Ms)
		}
		return b
	}
	panels := []bars{
		quantiles("pod start (runp + create + start)", func(c cribench.Contender) cribench.Stat { return c.PodStart }),
		quantiles("exit until CRI shows EXITED", func(c cribench.Contender) cribench.Stat { return c.ExitSeen }),
	}
	probe := bars{title: "exec probe: wall clock", unit: "ms", series: []string{"p50", "p90"}, values: make([][]float64, 2)}
	cpu := bars{title: "exec probe: CPU (shim + children)", unit: "ms", series: []string{"mean"}, values: make([][]float64, 1)}
	for _, p := range r.Probes {
		probe.labels = append(probe.labels, p.Label)
		probe.values[0], probe.values[1] = append(probe.values[0], p.Wall.P50Ms), append(probe.values[1], p.Wall.P90Ms)
		if p.ShimCPUMs > 0 {
			cpu.labels = append(cpu.labels, p.Label)
			cpu.values[0] = append(cpu.values[0], p.ShimCPUMs)
		}
	}
	mem := bars{title: "shims' memory per pod", unit: "MiB", labels: labels,
		series: []string{"USS idle", "USS after probes", "PSS idle", "PSS after probes"}, values: make([][]float64, 4)}
	for _, c := range r.Contenders {
		for i, kib := range []int{c.IdleUSSKiB, c.ProbedUSSKiB, c.IdlePSSKiB, c.ProbedPSSKiB} {
			mem.values[i] = append(mem.values[i], float64(kib)/1024)
		}
	}
	panels = append(panels, probe, cpu, mem)
	if len(r.Contenders) > 0 && r.Contenders[0].Outage != nil {
		outage := bars{title: fmt.Sprintf("exits during a %.0f s containerd outage", r.Config.OutageSeconds), unit: "containers", labels: labels,
			series: []string{"exited", "shown EXITED, right code"}, values: make([][]float64, 2)}
		for _, c := range r.Contenders {
			outage.values[0] = append(outage.values[0], float64(c.Outage.Containers))
			outage.values[1] = append(outage.values[1], float64(c.Outage.RightCode))
		}
		panels = append(panels, outage)
	}
	return panels
}

// writeCRIChart draws the panels in a grid of three columns. The
// extension of file picks the format: .svg or .png.
func writeCRIChart(file string, r *cribench.Report) error {
	panels := criPanels(r)
	const cols = 3
	rows := (len(panels) + cols - 1) / cols
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	width, height := cols*4.2*vg.Inch, vg.Length(rows)*3.4*vg.Inch
	switch chartFormat(file) {
	case "svg":
		c = vgsvg.New(width, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(144))}
	default:
		return fmt.Errorf("chart %s: want a .svg or .png file name", file)
	}
	grid := make([][]*plot.Plot, rows)
	for i := range grid {
		grid[i] = make([]*plot.Plot, cols)
	}
	for i, b := range panels {
		p, err := barPlot(b)
		if err != nil {
			return err
		}
		grid[i/cols][i%cols] = p
	}
	tiles := draw.Tiles{Rows: rows, Cols: cols, PadX: vg.Millimeter * 6, PadY: vg.Millimeter * 6, PadTop: vg.Millimeter * 2,
		PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	dc := draw.New(c)
	canvases := plot.Align(grid, tiles, dc)
	for i := range grid {
		for j, p := range grid[i] {
			if p != nil {
				p.Draw(canvases[i][j])
			}
		}
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := c.WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("write chart %s: %w", file, err)
	}
	return f.Close()
}

func barPlot(b bars) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = b.title
	p.Y.Label.Text = b.unit
	p.Y.Min = 0
	p.Legend.Top = true
	// The bars of a group take 70% of its share of the panel's width.
	w := vg.Points(180 / float64(len(b.labels)*len(b.series)))
	if len(b.labels) > 3 {
		p.X.Tick.Label.Font.Size = vg.Points(8)
	}
	top := 0.0
	for i, name := range b.series {
		chart, err := plotter.NewBarChart(plotter.Values(b.values[i]), w)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", b.title, err)
		}
		chart.LineStyle.Width = 0
		chart.Color = plotutil.Color(i)
		if len(b.series) == 1 {
			chart.Color = color.Gray{Y: 96}
		}
		chart.Offset = w * vg.Length(float64(i)-float64(len(b.series)-1)/2)
		for _, v := range b.values[i] {
			top = max(top, v)
		}
		p.Add(chart)
		if len(b.series) > 1 {
			p.Legend.Add(name, chart)
		}
	}
	p.NominalX(b.labels...)
	// Room above the bars for the legend.
	p.Y.Max = top * (1.15 + 0.1*float64(len(b.series)))
	return p, nil
}
