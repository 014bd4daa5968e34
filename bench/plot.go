package bench

import (
	"bytes"
	"fmt"
	"image/color"
	"math"
	"sort"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// wa is a weight/activation bit-width pair, the x axis of the accuracy plot.
type wa struct{ w, a int }

func (p wa) String() string { return "W" + bitsLabel(p.w) + "A" + bitsLabel(p.a) }

// accuracyPlot draws accuracy against the W/A bit widths, one panel per dataset and
// one line per method family, and returns the PNG.
func accuracyPlot(cells []Cell, sets []string) ([]byte, error) {
	xs, fams := plotAxes(cells)
	pos := map[wa]float64{}
	labels := make([]string, len(xs))
	for i, p := range xs {
		pos[p] = float64(i)
		labels[i] = p.String()
	}
	if len(sets) == 0 {
		sets = []string{"none"}
	}
	row := make([]*plot.Plot, len(sets))
	for k, ds := range sets {
		p, err := accuracyPanel(cells, ds, fams, pos, labels)
		if err != nil {
			return nil, err
		}
		row[k] = p
	}
	const panelW, panelH = 7 * vg.Inch, 5 * vg.Inch
	img := vgimg.New(panelW*vg.Length(len(sets)), panelH)
	dc := draw.New(img)
	tiles := draw.Tiles{Rows: 1, Cols: len(sets), PadX: vg.Millimeter * 4, PadY: vg.Millimeter * 2, PadTop: vg.Millimeter * 2, PadBottom: vg.Millimeter * 2, PadLeft: vg.Millimeter * 2, PadRight: vg.Millimeter * 2}
	canvases := plot.Align([][]*plot.Plot{row}, tiles, dc)
	for k, p := range row {
		p.Draw(canvases[0][k])
	}
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("bench: plot: %w", err)
	}
	return buf.Bytes(), nil
}

// plotAxes returns the x axis, categorical: every W/A pair present,
// ordered by weight then input bits; and the method families in order of
// first appearance.
func plotAxes(cells []Cell) ([]wa, []string) {
	var xs []wa
	seen := map[wa]bool{}
	var fams []string
	famSeen := map[string]bool{}
	for _, c := range cells {
		p := wa{c.WBits, c.ABits}
		if !seen[p] {
			seen[p] = true
			xs = append(xs, p)
		}
		if !famSeen[c.Family] {
			famSeen[c.Family] = true
			fams = append(fams, c.Family)
		}
	}
	sort.Slice(xs, func(i, j int) bool {
		if xs[i].w != xs[j].w {
			return xs[i].w < xs[j].w
		}
		return xs[i].a < xs[j].a
	})
	return xs, fams
}

// accuracyPanel is dataset ds's panel: one line per family.
func accuracyPanel(cells []Cell, ds string, fams []string, pos map[wa]float64, labels []string) (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text = title(ds) + ": test accuracy against bit widths"
	p.X.Label.Text = "weight / activation bits (body layers)"
	p.Y.Label.Text = "test top-1 (%)"
	p.Add(plotter.NewGrid())
	// Accuracy grows with bits, so the top left is the emptiest corner; the
	// y range is widened to leave it to the legend.
	p.Legend.Top = true
	p.Legend.Left = true
	p.Legend.XOffs = 2 * vg.Millimeter
	lo, hi := math.Inf(1), math.Inf(-1)
	for fi, f := range fams {
		var pts plotter.XYs
		for _, c := range cells {
			if c.Dataset == ds && c.Family == f && !math.IsNaN(c.Acc) && c.Error == "" {
				pts = append(pts, plotter.XY{X: pos[wa{c.WBits, c.ABits}], Y: c.Acc})
			}
		}
		if len(pts) == 0 {
			continue
		}
		sort.Slice(pts, func(i, j int) bool { return pts[i].X < pts[j].X })
		for _, pt := range pts {
			lo, hi = min(lo, pt.Y), max(hi, pt.Y)
		}
		l, s, err := plotter.NewLinePoints(pts)
		if err != nil {
			return nil, fmt.Errorf("bench: plot: %w", err)
		}
		col := familyColor(fi)
		l.Color = col
		l.Width = vg.Points(1.5)
		s.Color = col
		s.Shape = plotutil.Shape(fi)
		s.Radius = vg.Points(3.5)
		p.Add(l, s)
		p.Legend.Add(f, l, s)
	}
	if len(labels) > 0 {
		p.NominalX(labels...)
		p.X.Min, p.X.Max = -0.5, float64(len(labels))-0.5
	}
	if lo <= hi {
		span := max(hi-lo, 1)
		p.Y.Min, p.Y.Max = lo-0.1*span, min(hi+0.1*span+0.06*span*float64(len(fams)), 100)
	}
	return p, nil
}

// familyPalette is 12 distinct colours (ColorBrewer's Paired, dark shades first),
// so families do not share a colour as plotutil's 7 do.
var familyPalette = []color.RGBA{
	{31, 120, 180, 255}, {51, 160, 44, 255}, {227, 26, 28, 255}, {255, 127, 0, 255}, {106, 61, 154, 255}, {177, 89, 40, 255},
	{166, 206, 227, 255}, {178, 223, 138, 255}, {251, 154, 153, 255}, {253, 191, 111, 255}, {202, 178, 214, 255}, {0, 0, 0, 255},
}

// familyColor is family i's colour; past 12 families the palette repeats
// (their shapes, plotutil.Shape, still differ).
func familyColor(i int) color.Color { return familyPalette[i%len(familyPalette)] }

// barPlot draws one bar per label and returns the PNG (the sensitivity chart).
func barPlot(titleText, yLabel string, labels []string, values []float64) ([]byte, error) {
	p := plot.New()
	p.Title.Text = titleText
	p.Y.Label.Text = yLabel
	p.Add(plotter.NewGrid())
	vs := make(plotter.Values, len(values))
	copy(vs, values)
	bars, err := plotter.NewBarChart(vs, vg.Points(28))
	if err != nil {
		return nil, fmt.Errorf("bench: plot: %w", err)
	}
	bars.Color = plotutil.Color(0)
	bars.LineStyle.Width = 0
	p.Add(bars)
	p.NominalX(labels...)
	p.X.Min, p.X.Max = -0.6, float64(len(labels))-0.4
	w := max(6*vg.Inch, vg.Length(len(labels))*0.9*vg.Inch)
	img := vgimg.New(w, 4*vg.Inch)
	p.Draw(draw.New(img))
	var buf bytes.Buffer
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("bench: plot: %w", err)
	}
	return buf.Bytes(), nil
}
