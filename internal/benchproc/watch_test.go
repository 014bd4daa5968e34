package benchproc

import "testing"

// TestWatch: a slow probe marks a round disturbed unless it is fast again
// after a forced GC.
func TestWatch(t *testing.T) {
	var script []float64
	q := &Watch{Probe: func() float64 {
		v := script[0]
		script = script[1:]
		return v
	}}
	script = []float64{10, 9}
	q.RunProbe()
	for _, c := range []struct {
		name   string
		script []float64
		probe  float64
		bad    bool
	}{
		// start 10 10; end slow 4 4, then 9 9 after the GC: quiet.
		{"fast after GC", []float64{10, 10, 4, 4, 9, 9}, 0.9, false},
		// start 10 10; end 4 4 and 5 5 after the GC: disturbed.
		{"slow after GC", []float64{10, 10, 4, 4, 5, 5}, 0.5, true},
	} {
		script = c.script
		m := q.Start()
		f, p, bad := q.End(m)
		if bad != c.bad && f <= ForeignLimit || p != c.probe {
			t.Errorf("%s: probe %v, disturbed %v; want %v, %v", c.name, p, bad, c.probe, c.bad)
		}
		q.Kept(f, p, bad)
		if len(script) != 0 {
			t.Errorf("%s: %d probe values left", c.name, len(script))
		}
	}
	if q.Rounds != 2 || q.ProbeMin != 0.5 || q.Disturbed < 1 {
		t.Errorf("stats %+v", q)
	}
}
