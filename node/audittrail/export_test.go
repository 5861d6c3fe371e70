package audittrail

import (
	"log/slog"
	"slices"
	"testing"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
)

// testCrypto accepts the algorithms by name and every message: these
// tests append records, they do not sign.
type testCrypto struct{}

func (testCrypto) KnownAlgorithm(a string) bool               { return a == "ecdsa-secp256k1" || a == "ed25519" }
func (testCrypto) CheckMessage(string, []byte) error          { return nil }
func (testCrypto) Verify(string, []byte, []byte, []byte) bool { return true }

// auditFixture is a state machine with the audit chain on, applying
// entries one by one, beside a node's metrics.
type auditFixture struct {
	t     *testing.T
	fsm   *fsm.FSM
	m     *metrics.Set
	index uint64
}

func newAuditFixture(t *testing.T) *auditFixture {
	t.Helper()
	machine, err := fsm.NewFSM(fsm.DefaultFSMConfig(), testCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	if err := machine.EnableAudit(fsm.DefaultAuditConfig()); err != nil {
		t.Fatal(err)
	}
	return &auditFixture{t: t, fsm: machine, m: metrics.New(metrics.Source{})}
}

// ok applies cmd as the next entry and fails the test if it is refused.
func (f *auditFixture) ok(cmd fsm.Command) {
	f.t.Helper()
	data, err := fsm.Encode(cmd)
	if err != nil {
		f.t.Fatal(err)
	}
	f.index++
	if res, _ := f.fsm.Apply(&raft.Log{Type: raft.LogCommand, Index: f.index, Data: data}).(fsm.Result); res.Err != nil {
		f.t.Fatalf("%s: %v", cmd.Type(), res.Err)
	}
}

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
