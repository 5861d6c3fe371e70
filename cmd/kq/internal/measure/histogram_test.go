package measure

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestHistogramQuantilesWithinOnePercent(t *testing.T) {
	h := NewHistogram()
	var all []time.Duration
	r := rand.New(rand.NewPCG(1, 2))
	for range 20000 {
		d := time.Duration(r.ExpFloat64() * float64(10*time.Millisecond))
		h.Record(d)
		all = append(all, d)
	}
	slices.Sort(all)
	for _, q := range []float64{0.5, 0.9, 0.99, 0.999} {
		exact := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := float64(got-exact) / float64(exact); diff < -0.011 || diff > 0.011 {
			t.Errorf("p%v = %v, exact %v (%.2f%% off)", q*100, got, exact, diff*100)
		}
	}
	if h.Quantile(1) != all[len(all)-1] {
		t.Errorf("max = %v, want %v", h.Quantile(1), all[len(all)-1])
	}
	o := NewHistogram()
	o.Record(time.Hour)
	h.Merge(o)
	if h.n != 20001 || h.max != time.Hour {
		t.Fatal("merge lost samples")
	}
}
