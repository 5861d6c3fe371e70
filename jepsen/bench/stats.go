package bench

import (
	"math"
	"slices"
	"time"
)

// Stats summarises wall-clock samples of one operation. The zero value means
// no samples.
type Stats struct {
	N    int
	P50  time.Duration
	P90  time.Duration
	Max  time.Duration
	Mean time.Duration
	_    struct{}
}

// Summarize computes Stats over samples without modifying them. Percentiles
// use the nearest-rank method, so every reported value is one that was
// actually observed. An empty slice yields the zero Stats.
func Summarize(samples []time.Duration) Stats {
	if len(samples) == 0 {
		return Stats{}
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	var sum time.Duration
	for _, d := range s {
		sum += d
	}
	return Stats{
		N:    len(s),
		P50:  rank(s, 0.50),
		P90:  rank(s, 0.90),
		Max:  s[len(s)-1],
		Mean: sum / time.Duration(len(s)),
	}
}

// Percentile returns the nearest-rank p-quantile (0 < p <= 1) of samples,
// which need not be sorted and are not modified. It returns 0 for no samples;
// p outside (0, 1] is clamped.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	s := slices.Clone(samples)
	slices.Sort(s)
	return rank(s, p)
}

// rank is the nearest-rank quantile of sorted s: the smallest value with at
// least p of the samples at or below it.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// Ratio returns a/b as a float, or 0 when b is zero.
func Ratio(a, b time.Duration) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}
