package bench

import (
	"fmt"
	"image/color"
	"testing"
)

// TestAccuracyPanelColoursAndRange: every family gets its own colour, and
// the y axis stops at 100%.
func TestAccuracyPanelColoursAndRange(t *testing.T) {
	for _, tc := range []struct {
		name string
		fams int
		acc  float64
	}{{"8 families near 100%", 8, 99.4}, {"12 families", 12, 90}, {"one family", 1, 100}} {
		t.Run(tc.name, func(t *testing.T) {
			var cells []Cell
			var fams []string
			for f := range tc.fams {
				fam := fmt.Sprintf("fam%d", f)
				fams = append(fams, fam)
				for b := 1; b <= 4; b++ {
					cells = append(cells, Cell{Dataset: "mnist", Family: fam, WBits: b, ABits: b, Acc: tc.acc - float64(4-b)*0.1})
				}
			}
			xs, _ := plotAxes(cells)
			pos, labels := map[wa]float64{}, []string{}
			for i, p := range xs {
				pos[p] = float64(i)
				labels = append(labels, p.String())
			}
			p, err := accuracyPanel(cells, "mnist", fams, pos, labels)
			if err != nil {
				t.Fatal(err)
			}
			if p.Y.Max > 100 {
				t.Errorf("y axis runs to %v%%", p.Y.Max)
			}
			seen := map[color.RGBA]bool{}
			for i := range tc.fams {
				r, g, b, a := familyColor(i).RGBA()
				c := color.RGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), uint8(a >> 8)}
				if seen[c] {
					t.Errorf("family %d repeats colour %v", i, c)
				}
				seen[c] = true
			}
		})
	}
}
