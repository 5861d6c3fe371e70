// Package estimate keeps how long this member's recent long operations
// took (key generation, refresh), so that a caller waiting for one can be
// shown the time left.
package estimate

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Durations keeps how long this node's recent long operations took (key
// generation, refresh), per operation and algorithm, so that a caller
// waiting for one can be shown the time left: kq's progress bar reads them
// from Status. It is node-local and advisory; nothing is decided by it.
type Durations struct {
	mu     sync.Mutex
	recent map[durationKey][]time.Duration // newest last, at most keepDurations
}

type durationKey struct{ op, algorithm string }

// keepDurations is how many runs an estimate looks back on: enough for a
// median to ignore one run slowed by a fault, few enough to follow a change
// of machine or load.
const keepDurations = 8

// New returns an empty record.
func New() *Durations { return &Durations{recent: map[durationKey][]time.Duration{}} }

// Add records a successful run of op (metrics.KindKeygen, metrics.KindRefresh) on algorithm.
func (d *Durations) Add(op, algorithm string, took time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	k := durationKey{op, algorithm}
	r := append(d.recent[k], took)
	if len(r) > keepDurations {
		r = r[len(r)-keepDurations:]
	}
	d.recent[k] = r
}

// Estimates returns the median of each operation's recent runs, in a
// stable order.
func (d *Durations) Estimates() []*kqpb.OperationEstimate {
	d.mu.Lock()
	defer d.mu.Unlock()
	var out []*kqpb.OperationEstimate
	for k, r := range d.recent {
		alg, ok := kqpb.AlgorithmNamed(k.algorithm)
		if !ok || len(r) == 0 {
			continue
		}
		sorted := slices.Sorted(slices.Values(r))
		out = append(out, &kqpb.OperationEstimate{Operation: k.op, Algorithm: alg,
			Seconds: sorted[len(sorted)/2].Seconds(), Samples: uint32(len(r))})
	}
	slices.SortFunc(out, func(a, b *kqpb.OperationEstimate) int {
		return cmp.Or(cmp.Compare(a.Operation, b.Operation), cmp.Compare(a.Algorithm, b.Algorithm))
	})
	return out
}
