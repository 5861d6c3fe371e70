package metrics

import (
	"slices"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// blameMetrics counts accepted accusations by culprit and check
// (keyquorum_blame_total) and shows who is excluded now
// (keyquorum_blame_excluded). Culprits are members of a key, so both
// label sets are bounded by the cluster and the checks given.
type blameMetrics struct {
	fsm      State
	now      func() time.Time
	checks   []string
	total    *prometheus.CounterVec
	excluded *prometheus.Desc
}

func newBlameMetrics(fsm State, now func() time.Time, checks []string) *blameMetrics {
	return &blameMetrics{fsm: fsm, now: now, checks: checks,
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "keyquorum_blame_total",
			Help: "Accusations accepted by the log: a member named the culprit of an aborted signing attempt. Repeated increase is an alert."},
			[]string{"culprit", "check"}),
		excluded: prometheus.NewDesc("keyquorum_blame_excluded",
			"1 for a member the blame rule excludes from committees now.", []string{"member"}, nil)}
}

func (b *blameMetrics) Describe(ch chan<- *prometheus.Desc) {
	b.total.Describe(ch)
	ch <- b.excluded
}

func (b *blameMetrics) Collect(ch chan<- prometheus.Metric) {
	b.total.Collect(ch)
	for _, m := range b.fsm.Excluded(b.now().UnixNano()) {
		ch <- prometheus.MustNewConstMetric(b.excluded, prometheus.GaugeValue, 1, m)
	}
}

// applied counts an applied accusation; every replica counts the same.
func (b *blameMetrics) applied(cmd fsm.Command, res fsm.Result) {
	c, ok := cmd.(*fsm.AttemptBlamed)
	if !ok || res.Err != nil || res.Duplicate {
		return
	}
	check := c.Check
	if !slices.Contains(b.checks, check) {
		check = "other"
	}
	b.total.WithLabelValues(c.Culprit, check).Inc()
}
