package audittrail

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmtest"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
)

// auditFixture is a state machine with the audit chain on beside a
// node's metrics.
type auditFixture struct {
	fsm *fsmtest.Machine
	m   *metrics.Set
}

func newAuditFixture(t *testing.T) *auditFixture {
	return &auditFixture{fsm: fsmtest.New(t), m: metrics.New(metrics.Source{})}
}

// ok applies cmd as the next entry and fails the test if it is refused.
func (f *auditFixture) ok(cmd fsm.Command) { f.fsm.OK(cmd) }

// TestAuditExportCountsRecords: each record the export writes is counted.
func TestAuditExportCountsRecords(t *testing.T) {
	f := newAuditFixture(t)
	l, err := OpenExport(t.TempDir(), slog.New(slog.DiscardHandler), f.fsm.AuditRecent)
	if err != nil {
		t.Fatal(err)
	}
	l.Records = f.m.AuditRecords()
	f.ok(&fsm.PreParamsReady{Node: "n1"})
	f.ok(&fsm.PreParamsReady{Node: "n2"})
	if err := l.write(f.fsm.AuditRecent(1, 100)); err != nil {
		t.Fatal(err)
	}
	if err := l.write(f.fsm.AuditRecent(1, 100)); err != nil { // all already written
		t.Fatal(err)
	}
	_, s := metricstest.Scrape(t, f.m.Handler())
	want := float64(f.fsm.AuditHead().Seq)
	if want == 0 || s["keyquorum_audit_records_appended_total"] != want {
		t.Errorf("records appended = %v, want %v", s["keyquorum_audit_records_appended_total"], want)
	}
}

// TestAuditExportCountsMismatches: an export line that disagrees with the
// replicated chain counts once as an invariant violation; the same record
// again does not.
func TestAuditExportCountsMismatches(t *testing.T) {
	f := newAuditFixture(t)
	l, err := OpenExport(t.TempDir(), slog.New(slog.DiscardHandler), f.fsm.AuditRecent)
	if err != nil {
		t.Fatal(err)
	}
	l.Mismatches = f.m.AuditExportMismatches()
	f.ok(&fsm.PreParamsReady{Node: "n1"})
	recs := f.fsm.AuditRecent(1, 100)
	if err := l.write(recs); err != nil {
		t.Fatal(err)
	}
	if err := l.write(recs); err != nil { // the same again: agrees
		t.Fatal(err)
	}
	forged := slices.Clone(recs)
	forged[len(forged)-1].Hash = "00" + forged[len(forged)-1].Hash[2:]
	if err := l.write(forged); err != nil {
		t.Fatal(err)
	}
	_, s := metricstest.Scrape(t, f.m.Handler())
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_invariant_violations_total{invariant="audit_export"}`: 1,
	})
}
