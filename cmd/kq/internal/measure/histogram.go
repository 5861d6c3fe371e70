// Package measure takes the measurements kq bench reports: the latency of
// each request, kept in a Histogram, and the CPU time the local nodes spent.
package measure

import (
	"math"
	"time"
)

// Histogram records latencies in log-spaced buckets 1% wide, HDR style:
// constant memory however long a benchmark runs, and every percentile
// within 1% of the true value.
type Histogram struct {
	counts []uint64
	n      uint64
	sum    time.Duration
	max    time.Duration
}

const (
	histGrowth = 1.01
	histMin    = time.Microsecond
	histMax    = 20 * time.Minute
)

var histBuckets = int(math.Ceil(math.Log(float64(histMax/histMin))/math.Log(histGrowth))) + 1

// NewHistogram returns an empty histogram.
func NewHistogram() *Histogram { return &Histogram{counts: make([]uint64, histBuckets)} }

func bucketOf(d time.Duration) int {
	if d <= histMin {
		return 0
	}
	i := int(math.Log(float64(d)/float64(histMin)) / math.Log(histGrowth))
	return min(i, histBuckets-1)
}

// upper returns the largest duration bucket i holds.
func upper(i int) time.Duration {
	return time.Duration(float64(histMin) * math.Pow(histGrowth, float64(i+1)))
}

// Record adds one sample.
func (h *Histogram) Record(d time.Duration) {
	h.counts[bucketOf(d)]++
	h.n++
	h.sum += d
	h.max = max(h.max, d)
}

// Merge adds o's samples.
func (h *Histogram) Merge(o *Histogram) {
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.n += o.n
	h.sum += o.sum
	h.max = max(h.max, o.max)
}

// Quantile returns the latency below which a fraction q of samples fall.
func (h *Histogram) Quantile(q float64) time.Duration {
	if h.n == 0 {
		return 0
	}
	rank := uint64(math.Ceil(q * float64(h.n)))
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			return min(upper(i), h.max)
		}
	}
	return h.max
}

// Mean is the average sample.
func (h *Histogram) Mean() time.Duration {
	if h.n == 0 {
		return 0
	}
	return h.sum / time.Duration(h.n)
}

// Max is the largest sample.
func (h *Histogram) Max() time.Duration { return h.max }
