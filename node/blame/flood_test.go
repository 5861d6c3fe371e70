package blame

import (
	"maps"
	"testing"
	"time"
)

// TestFloodWatchAccusesBigLossesOncePerGap: a sender is named when it
// lost floodBlameDrops messages since the last look, not for its total,
// and not again within floodBlameGap however much more it loses.
func TestFloodWatchAccusesBigLossesOncePerGap(t *testing.T) {
	w := newFloodWatch()
	t0 := time.Unix(1000, 0)
	steps := []struct {
		at      time.Duration
		dropped map[string]uint64
		want    map[string]uint64
	}{
		{0, map[string]uint64{"n2": 10, "n3": floodBlameDrops}, map[string]uint64{"n3": floodBlameDrops}},
		{5 * time.Second, map[string]uint64{"n2": 900, "n3": 3 * floodBlameDrops}, map[string]uint64{}},                        // n2 under, n3 within the gap
		{10 * time.Second, map[string]uint64{"n2": 900 + floodBlameDrops - 1, "n3": 3 * floodBlameDrops}, map[string]uint64{}}, // n2 one short
		{floodBlameGap + time.Second, map[string]uint64{"n2": 900 + 2*floodBlameDrops, "n3": 5 * floodBlameDrops}, map[string]uint64{"n2": floodBlameDrops + 1, "n3": 2 * floodBlameDrops}},
	}
	for i, s := range steps {
		if got := w.flooders(s.dropped, t0.Add(s.at)); !maps.Equal(got, s.want) {
			t.Fatalf("step %d: flooders = %v, want %v", i, got, s.want)
		}
	}
}
