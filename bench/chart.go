package main

import (
	"fmt"
	"image/color"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// curveSeries are the lines of the throughput-against-concurrency chart: each
// has one figure per caller count, keyed Prefix + "/c" + count.
var curveSeries = []struct {
	Prefix, Label string
	Color         color.RGBA
}{
	{"raw/grouped", "raw go-sqlite3, grouped commits", color.RGBA{120, 120, 120, 255}},
	{"idem/P2/distinct", "idem, distinct aggregates", color.RGBA{31, 119, 180, 255}},
	{"idem/P2/uniform", "idem, uniform over all aggregates", color.RGBA{44, 160, 44, 255}},
	{"idem/P2/zipf", "idem, Zipf-hot (s=1.1)", color.RGBA{214, 39, 40, 255}},
	{"hallgren/P2/immediate", "hallgren, _txlock=immediate", color.RGBA{255, 127, 14, 255}},
}

func curveLabels() []string {
	ls := make([]string, len(curveSeries))
	for i, s := range curveSeries {
		ls[i] = s.Label
	}
	return ls
}

// writeChart draws throughput (operations per second) against the number of
// concurrent callers, log-scaled on x, to an SVG file.
func writeChart(path string, r Report) error {
	p := plot.New()
	p.Title.Text = "Throughput against concurrent callers (SQLite, synchronous=FULL)"
	p.X.Label.Text = "concurrent callers"
	p.Y.Label.Text = "committed commands per second"
	p.X.Scale = plot.LogScale{}
	var ticks []plot.Tick
	for _, c := range r.Config.Concurrency {
		ticks = append(ticks, plot.Tick{Value: float64(c), Label: strconv.Itoa(c)})
	}
	p.X.Tick.Marker = plot.ConstantTicks(ticks)
	if n := len(r.Config.Concurrency); n > 0 { // room for the first and last labels
		p.X.Min = float64(r.Config.Concurrency[0]) * 0.8
		p.X.Max = float64(r.Config.Concurrency[n-1]) * 1.25
	}
	p.Y.Min = 0
	p.Y.Tick.Marker = plot.TickerFunc(func(lo, hi float64) []plot.Tick {
		ts := plot.DefaultTicks{}.Ticks(lo, hi)
		for i := range ts {
			if ts[i].Label != "" {
				ts[i].Label = si(ts[i].Value) // 25k rather than 25000.00
			}
		}
		return ts
	})
	p.Legend.Top = true
	p.Legend.Left = true
	p.Add(plotter.NewGrid())
	for _, s := range curveSeries {
		var xys plotter.XYs
		for _, c := range r.Config.Concurrency {
			if res, ok := r.Results[fmt.Sprintf("%s/c%d", s.Prefix, c)]; ok && res.Measured() {
				xys = append(xys, plotter.XY{X: float64(c), Y: res.Median})
				p.Y.Max = max(p.Y.Max, res.Median*1.1)
			}
		}
		if len(xys) == 0 {
			continue
		}
		line, points, err := plotter.NewLinePoints(xys)
		if err != nil {
			return err
		}
		line.Color, points.Color = s.Color, s.Color
		line.Width = vg.Points(1.5)
		points.Shape = draw.CircleGlyph{}
		p.Add(line, points)
		p.Legend.Add(s.Label, line, points)
	}
	return p.Save(9*vg.Inch, 5.5*vg.Inch, path)
}
