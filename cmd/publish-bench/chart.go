package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
	"gonum.org/v1/plot/vg/vgsvg"

	"github.com/google/gvisor-containerd-shim/internal/stats"
)

// cdfPoints caps the points per curve: the chart needs the shape, not every
// sample.
const cdfPoints = 400

// writeChart draws, for each workload, the cumulative latency distribution
// of every path on a log axis, side by side. The extension of file picks
// the format: .svg or .png.
func writeChart(file string, results []Result, workloads, paths []string) error {
	var c interface {
		vg.CanvasSizer
		io.WriterTo
	}
	width, height := vg.Length(len(workloads))*4.2*vg.Inch, 3.6*vg.Inch
	switch chartFormat(file) {
	case "svg":
		c = vgsvg.New(width, height)
	case "png":
		c = vgimg.PngCanvas{Canvas: vgimg.NewWith(vgimg.UseWH(width, height), vgimg.UseDPI(144))}
	default:
		return fmt.Errorf("chart %s: want a .svg or .png file name", file)
	}
	row := make([]*plot.Plot, 0, len(workloads))
	for _, w := range workloads {
		p, err := latencyPlot(w, results, paths)
		if err != nil {
			return err
		}
		row = append(row, p)
	}
	dc := draw.New(c)
	tiles := draw.Tiles{Rows: 1, Cols: len(row), PadX: vg.Millimeter * 4, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2,
		PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 4}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for i, p := range row {
		p.Draw(canvases[0][i])
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

// chartFormat is "svg" or "png" by the file's extension, "" for others.
func chartFormat(file string) string {
	switch ext := strings.ToLower(filepath.Ext(file)); ext {
	case ".svg", ".png":
		return ext[1:]
	}
	return ""
}

func latencyPlot(workload string, results []Result, paths []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = workload + ": Publish → subscriber"
	p.X.Label.Text = "latency (log scale)"
	p.Y.Label.Text = "fraction of events ≤ latency"
	p.X.Scale = plot.LogScale{}
	p.X.Tick.Marker = durationTicks{}
	p.Y.Min, p.Y.Max = 0, 1
	// The legend sits bottom right; widening the axis past the slowest
	// event keeps it clear of the curves.
	p.Legend.Top = false
	p.Legend.Left = false
	p.Legend.ThumbnailWidth = vg.Points(18)
	slowest := 0.0
	p.Add(plotter.NewGrid())
	for i, path := range paths {
		r := find(results, workload, path)
		if r == nil || len(r.samples) == 0 {
			continue
		}
		line, err := plotter.NewLine(cdf(r.samples))
		if err != nil {
			return nil, fmt.Errorf("chart %s/%s: %w", workload, path, err)
		}
		line.Color = plotutil.Color(i)
		line.Dashes = plotutil.Dashes(i)
		line.Width = vg.Points(1.5)
		p.Add(line)
		p.Legend.Add(fmt.Sprintf("%s p50 %s", path, fmtMicros(r.Latency.P50)), line)
		slowest = max(slowest, r.Latency.Max)
	}
	p.X.Max = slowest * 20
	return p, nil
}

// durationTicks labels a log axis in microseconds with durations.
type durationTicks struct{}

// Ticks puts plot's log ticks between min and max, labelled as durations.
func (durationTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.LogTicks{Prec: -1}.Ticks(min, max)
	for i := range ticks {
		if ticks[i].Label != "" {
			ticks[i].Label = fmtDuration(ticks[i].Value)
		}
	}
	return ticks
}

func fmtDuration(micros float64) string {
	return time.Duration(micros * float64(time.Microsecond)).String()
}

// cdf returns at most cdfPoints points (latency µs, fraction ≤ it).
func cdf(samples []time.Duration) plotter.XYs {
	s := stats.Sorted(samples)
	n := len(s)
	step := max(n/cdfPoints, 1)
	var pts plotter.XYs
	for i := 0; i < n; i += step {
		pts = append(pts, plotter.XY{X: max(us(s[i]), 0.1), Y: float64(i+1) / float64(n)})
	}
	if last := s[n-1]; pts[len(pts)-1].Y < 1 {
		pts = append(pts, plotter.XY{X: max(us(last), 0.1), Y: 1})
	}
	return pts
}

func fmtMicros(v float64) string {
	if v >= 1000 {
		return fmt.Sprintf("%.1f ms", v/1000)
	}
	return fmt.Sprintf("%.0f µs", v)
}
