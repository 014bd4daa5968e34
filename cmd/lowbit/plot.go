package main

import (
	"bytes"
	"fmt"
	"io"
	"path/filepath"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"

	"github.com/lowbit/lowbit/internal/atomicfile"
)

func init() {
	register("plot", "draw a run's loss and accuracy curves as PNG (RUNDIR [-o FILE.png])", cmdPlot)
}

func cmdPlot(args []string, stdout io.Writer) error {
	fs := newFlags("plot")
	out := fs.String("o", "", "output PNG (default: RUNDIR/curves.png)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("want one run directory, got %d arguments", len(pos))
	}
	rows, err := readMetrics(filepath.Join(pos[0], metricsJSONL))
	if err != nil {
		return err
	}
	png, err := curvesPNG(rows, filepath.Base(filepath.Clean(pos[0])))
	if err != nil {
		return err
	}
	path := *out
	if path == "" {
		path = filepath.Join(pos[0], "curves.png")
	}
	if err := atomicfile.Write(path, png); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s\n", path)
	return nil
}

// series are the curves of one panel: step values smoothed, epoch values as points.
type series struct {
	name   string
	pts    plotter.XYs
	points bool
}

// curvesPNG draws loss (left) and accuracy (right) against the global step.
func curvesPNG(rows []metricRow, title string) ([]byte, error) {
	if len(rows) == 0 {
		return nil, fmt.Errorf("plot: no metrics")
	}
	var loss, acc [3]series
	split := "test"
	for _, r := range rows {
		if r.Kind == "epoch" && r.EvalSplit != "" {
			split = r.EvalSplit
		}
	}
	loss = [3]series{{name: "train (step, smoothed)"}, {name: "train (epoch)", points: true}, {name: split + " (epoch)", points: true}}
	acc = loss
	const a = 0.05
	var el, ea float64
	n := 0
	for _, r := range rows {
		x := float64(r.Step)
		if r.Kind == "step" {
			if n == 0 {
				el, ea = r.Loss, r.Acc
			}
			el, ea = (1-a)*el+a*r.Loss, (1-a)*ea+a*r.Acc
			n++
			loss[0].pts = append(loss[0].pts, plotter.XY{X: x, Y: el})
			acc[0].pts = append(acc[0].pts, plotter.XY{X: x, Y: ea})
			continue
		}
		loss[1].pts = append(loss[1].pts, plotter.XY{X: x, Y: r.TrainLoss})
		loss[2].pts = append(loss[2].pts, plotter.XY{X: x, Y: r.EvalLoss})
		acc[1].pts = append(acc[1].pts, plotter.XY{X: x, Y: r.TrainAcc})
		acc[2].pts = append(acc[2].pts, plotter.XY{X: x, Y: r.EvalAcc})
	}
	lp, err := panel(title+": loss", "loss", loss[:])
	if err != nil {
		return nil, err
	}
	lp.Legend.Top = true // loss falls: the top right is empty
	ap, err := panel(title+": accuracy", "top-1 (%)", acc[:])
	if err != nil {
		return nil, err
	}
	ap.Y.Max = min(ap.Y.Max, 100)
	row := []*plot.Plot{lp, ap}
	img := vgimg.New(12*vg.Inch, 4.5*vg.Inch)
	tiles := draw.Tiles{Rows: 1, Cols: 2, PadX: 4 * vg.Millimeter, PadY: 2 * vg.Millimeter, PadTop: 2 * vg.Millimeter,
		PadBottom: 2 * vg.Millimeter, PadLeft: 2 * vg.Millimeter, PadRight: 2 * vg.Millimeter}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, draw.New(img))
	for k, p := range row {
		p.Draw(canvases[0][k])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("plot: %w", err)
	}
	return buf.Bytes(), nil
}

func panel(title, ylabel string, ss []series) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = "step"
	p.Y.Label.Text = ylabel
	p.Add(plotter.NewGrid())
	for i, s := range ss {
		if len(s.pts) == 0 {
			continue
		}
		col := plotutil.Color(i)
		if s.points {
			l, sc, err := plotter.NewLinePoints(s.pts)
			if err != nil {
				return nil, fmt.Errorf("plot: %w", err)
			}
			l.Color, sc.Color, sc.Shape, sc.Radius = col, col, plotutil.Shape(i), vg.Points(3.5)
			l.Dashes = []vg.Length{vg.Points(4), vg.Points(3)}
			p.Add(l, sc)
			p.Legend.Add(s.name, l, sc)
			continue
		}
		l, err := plotter.NewLine(s.pts)
		if err != nil {
			return nil, fmt.Errorf("plot: %w", err)
		}
		l.Color = col
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return p, nil
}
