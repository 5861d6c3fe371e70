package availability

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/client"
	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/jepsen/nemesis"
)

// sec is a history time (or duration) of x seconds.
func sec(x float64) int64 { return int64(x * float64(time.Second)) }

// history builds hand-made histories: keys created at time 0, then signs.
type history struct {
	ops  []porcupine.Operation
	next int
}

func newHistory(keys map[string]string) *history {
	h := &history{}
	for name, alg := range keys {
		h.ops = append(h.ops, porcupine.Operation{Input: model.Input{Kind: model.Create, Key: name, Algorithm: alg},
			Output: model.Output{Status: model.OK}, Call: 0, Return: 1})
	}
	return h
}

// sign records a sign of key called at call (seconds) that returned at ret
// with status; an unknown outcome gives up at ret.
func (h *history) sign(key string, call, ret float64, status model.Status) string {
	h.next++
	rid := fmt.Sprintf("r%d", h.next)
	h.signAs(rid, key, call, ret, status)
	return rid
}

func (h *history) signAs(rid, key string, call, ret float64, status model.Status) {
	op := porcupine.Operation{Input: model.Input{Kind: model.Sign, Key: key, RequestID: rid},
		Output: model.Output{Status: status}, Call: sec(call), Return: sec(ret),
		Metadata: client.Meta{Latency: time.Duration(sec(ret) - sec(call))}}
	if status == model.Unknown {
		op.Return = math.MaxInt64
	}
	h.ops = append(h.ops, op)
}

// steady signs key every step seconds from start to end, each taking 50 ms.
func (h *history) steady(key string, start, end, step float64) {
	for t := start; t < end; t += step {
		h.sign(key, t, t+0.05, model.OK)
	}
}

var three = []string{"n1", "n2", "n3"}

func down(name, id string, start, end float64) nemesis.Fault {
	return nemesis.Fault{Name: name, Target: "node " + id, Start: sec(start), End: sec(end), Down: []string{id}}
}

// isolate cuts every link of id, both ways.
func isolate(id string, nodes []string, start, end float64) nemesis.Fault {
	f := nemesis.Fault{Name: "partition", Target: "isolate " + id, Start: sec(start), End: sec(end)}
	for _, o := range nodes {
		if o != id {
			f.Cut = append(f.Cut, [2]string{id, o}, [2]string{o, id})
		}
	}
	return f
}

// measureMetAfterKill measures h, of the ECDSA key "ec", around node id
// killed from 2 s to 8 s of a 20 s run with a 2 s recovery bound, checks
// the verdict is Met and returns the ECDSA measures.
func measureMetAfterKill(t *testing.T, h *history, id string) Measures {
	t.Helper()
	r := Measure(h.ops, []nemesis.Fault{down("kill", id, 2, 8)},
		Config{Nodes: three, Start: 0, End: sec(20), MaxRecovery: 2 * time.Second})
	if r.Verdict != Met {
		t.Fatalf("verdict %s %q", r.Verdict, r.Violations)
	}
	return r.ByAlgorithm["ecdsa-secp256k1"]
}

func near(t *testing.T, what string, gotMs float64, wantSec float64) {
	t.Helper()
	if math.Abs(gotMs-wantSec*1000) > 1 {
		t.Errorf("%s = %.3fs, want %.3fs", what, gotMs/1000, wantSec)
	}
}

// A partition that leaves a majority signing: the isolated node's side has
// no quorum, but the majority's does, and it signs throughout, so there is
// no outage; after the heal the next sign comes at once.
func TestPartitionWhoseMajorityKeepsSigningHasNoOutage(t *testing.T) {
	h := newHistory(map[string]string{"k": "ed25519"})
	h.steady("k", 0, 30, 0.2)
	halves := nemesis.Fault{Name: "partition", Target: "halves [n1] | [n2 n3]", Start: sec(10), End: sec(16),
		Cut: [][2]string{{"n1", "n2"}, {"n2", "n1"}, {"n1", "n3"}, {"n3", "n1"}}}
	r := Measure(h.ops, []nemesis.Fault{halves}, Config{Nodes: three, Start: 0, End: sec(30)})
	if len(r.NoQuorum) != 0 {
		t.Fatalf("no-quorum windows %+v; the majority side was connected", r.NoQuorum)
	}
	m := r.ByAlgorithm["ed25519"]
	if m.LongestOutage.Ms > 250 || len(m.Outages) != 0 {
		t.Fatalf("longest outage %+v, outages %+v; signing never stopped", m.LongestOutage, m.Outages)
	}
	if m.Recovered != 1 || m.RecoveryMax > 250 {
		t.Fatalf("recoveries %+v", m.Recoveries)
	}
	if m.Requests.Fraction != 0 || r.Verdict != Unjudged {
		t.Fatalf("failures %+v, verdict %s", m.Requests, r.Verdict)
	}
}

// A kill after which signing stalls: the outage runs from the last success
// to the first after the stall, though a quorum was up all along (two of
// three nodes); the recovery is from the restart to that success.
func TestStallWhileAQuorumIsUpIsAnOutage(t *testing.T) {
	h := newHistory(map[string]string{"k": "ed25519"})
	h.steady("k", 0, 10, 0.5)              // last success returns at 9.55
	h.sign("k", 10, 18, model.Unknown)     // a session waiting for the killed node
	h.sign("k", 10.5, 11, model.Unreached) // sent to the killed node
	h.sign("k", 18, 19.25, model.OK)       // after the restart at 15
	h.steady("k", 19.5, 30, 0.5)           //
	kill := down("kill", "n1", 9.9, 15)    //
	r := Measure(h.ops, []nemesis.Fault{kill}, Config{Nodes: three, Start: 0, End: sec(30), MaxRecovery: 2 * time.Second})
	m := r.ByAlgorithm["ed25519"]
	near(t, "longest outage", m.LongestOutage.Ms, 19.25-9.55)
	if m.LongestOutage.Start != sec(9.55) {
		t.Errorf("outage starts at %d, want the last success at 9.55s", m.LongestOutage.Start)
	}
	if len(m.Recoveries) != 1 || !m.Recoveries[0].Recovered {
		t.Fatalf("recoveries %+v", m.Recoveries)
	}
	near(t, "recovery", m.Recoveries[0].Ms, 19.25-15)
	if m.Requests.Unknown != 1 || m.Requests.Unreached != 1 || m.Requests.Requests != 44 {
		t.Errorf("requests %+v", m.Requests)
	}
	// Both failures were called while the kill held.
	if m.Quiet.Unknown+m.Quiet.Unreached != 0 || m.Quiet.Requests != 42 {
		t.Errorf("requests without a fault %+v", m.Quiet)
	}
	// No sign was called between the heal and 18 s, but one was in flight
	// across the heal: the cluster had a request to answer all along.
	if r.Verdict != Violated || len(r.Violations) != 1 || !strings.Contains(r.Violations[0], "4.25s") {
		t.Fatalf("verdict %s %q; want the 4.25 s recovery named", r.Verdict, r.Violations)
	}
}

// Overlapping faults: while n2 is paused and n1 cut off, only n3 is up and
// connected, and the kill of n1 healing inside that window leaves no
// quorum, so its recovery counts from the moment one returns; windows
// without a quorum are no outage, however long.
func TestOverlappingFaultsCountFromTheQuorumsReturn(t *testing.T) {
	h := newHistory(map[string]string{"k": "ed25519"})
	h.steady("k", 0, 8, 0.5)   // last success returns at 7.55
	h.steady("k", 26, 40, 0.5) // first success after returns at 26.05
	faults := []nemesis.Fault{
		isolate("n1", three, 5, 25),
		down("pause", "n2", 8, 30),
		down("kill", "n1", 10, 20),
	}
	r := Measure(h.ops, faults, Config{Nodes: three, Start: 0, End: sec(40), MaxRecovery: 2 * time.Second})
	if len(r.NoQuorum) != 1 || r.NoQuorum[0].Start != sec(8) || r.NoQuorum[0].End != sec(25) {
		t.Fatalf("no-quorum windows %+v, want 8s-25s", r.NoQuorum)
	}
	m := r.All
	// 7.55-8 before the quorum went, 25-26.05 after it came back.
	near(t, "longest outage", m.LongestOutage.Ms, 26.05-25)
	if len(m.Recoveries) != 3 {
		t.Fatalf("recoveries %+v, want one per fault", m.Recoveries)
	}
	want := map[string]struct{ from, took float64 }{
		"partition": {25, 1.05}, // the heal itself restored the quorum
		"kill":      {25, 1.05}, // healed at 20 with no quorum: counted from 25
		"pause":     {30, 0.05},
	}
	for _, rec := range m.Recoveries {
		w := want[rec.Name]
		if rec.From != sec(w.from) || !rec.Recovered {
			t.Errorf("%s: from %d recovered %v, want from %vs", rec.Name, rec.From, rec.Recovered, w.from)
		}
		near(t, rec.Name+" recovery", rec.Ms, w.took)
	}
	near(t, "p50", m.RecoveryP50, 1.05)
	near(t, "max", m.RecoveryMax, 1.05)
	if r.Verdict != Met {
		t.Fatalf("verdict %s %q", r.Verdict, r.Violations)
	}
}

// A fault never followed by a success: a violation once traffic ran on
// longer than the bound after the heal; counted unrecovered and left out
// of p50 and max. When the run ends first, the sign after the heal that
// reached a node is cancelled by the end of traffic, and the two that
// reached none ask nothing of the cluster: the fault is unasked.
func TestFaultWithNoLaterSuccess(t *testing.T) {
	for _, tc := range []struct {
		end                  float64
		want                 Verdict
		unrecovered, unasked int
	}{{30, Violated, 1, 0}, {16, Met, 0, 1}} {
		h := newHistory(map[string]string{"k": "ed25519"})
		h.steady("k", 0, 10, 0.5)
		h.sign("k", 14, 14.5, model.Unreached)
		h.sign("k", 15.2, 15.3, model.Unreached)
		h.sign("k", 15.5, 23, model.Unknown)
		r := Measure(h.ops, []nemesis.Fault{down("kill", "n2", 10, 15)},
			Config{Nodes: three, Start: 0, End: sec(tc.end), MaxRecovery: 2 * time.Second})
		m := r.All
		if m.Unrecovered != tc.unrecovered || m.Unasked != tc.unasked || m.Recovered != 0 || m.RecoveryMax != 0 {
			t.Fatalf("end %vs: %d unrecovered, %d unasked: %+v", tc.end, m.Unrecovered, m.Unasked, m.Recoveries)
		}
		if r.Verdict != tc.want {
			t.Fatalf("end %vs: verdict %s %q, want %s", tc.end, r.Verdict, r.Violations, tc.want)
		}
		near(t, "longest outage", m.LongestOutage.Ms, tc.end-9.55)
	}
}

// Each algorithm recovers on its own: an ECDSA stall after a heal is not
// hidden by Ed25519 signs, and a retried request id that returns its
// stored signature is no success.
func TestAlgorithmsRecoverApartAndRetriesAreNoSuccess(t *testing.T) {
	h := newHistory(map[string]string{"ed": "ed25519", "ec": "ecdsa-secp256k1"})
	h.steady("ed", 0, 20, 0.25)
	h.steady("ec", 0, 5, 1)
	rid := h.sign("ec", 5, 5.5, model.OK)
	h.signAs(rid, "ec", 6, 6.1, model.OK) // a retry: answered from the stored signature
	h.signAs(rid, "ec", 7, 7.1, model.OK)
	h.sign("ec", 9, 12.5, model.OK)
	h.sign("ec", 14, 14.05, model.OK)
	r := Measure(h.ops, []nemesis.Fault{down("pause", "n3", 5.8, 8)},
		Config{Nodes: three, Start: 0, End: sec(20), MaxRecovery: 2 * time.Second})
	ed, ec := r.ByAlgorithm["ed25519"], r.ByAlgorithm["ecdsa-secp256k1"]
	if ed.Recovered != 1 || ed.RecoveryMax > 300 {
		t.Fatalf("ed25519 recoveries %+v", ed.Recoveries)
	}
	if ec.Successes != 8 {
		t.Fatalf("ecdsa successes %d, want 8 (the two retries are not)", ec.Successes)
	}
	near(t, "ecdsa recovery", ec.RecoveryMax, 12.5-8)
	near(t, "ecdsa longest outage", ec.LongestOutage.Ms, 12.5-5.5)
	if r.Verdict != Violated || len(r.Violations) != 1 || !strings.HasPrefix(r.Violations[0], "ecdsa-secp256k1:") {
		t.Fatalf("verdict %s %q, want the ECDSA recovery alone", r.Verdict, r.Violations)
	}
	if r.All.RecoveryMax > 300 {
		t.Fatalf("all algorithms: recovery %v; any sign counts", r.All.RecoveryMax)
	}
}

// Signs outside traffic are not measured, and a call cancelled by the end
// of traffic is no failure.
func TestOnlyTrafficIsMeasured(t *testing.T) {
	h := newHistory(map[string]string{"k": "ed25519"})
	h.sign("k", 0.5, 0.6, model.Unknown) // setup, before traffic
	h.steady("k", 1, 10, 0.5)
	h.sign("k", 9.8, 10.3, model.Unknown) // cancelled when traffic ended at 10
	h.sign("k", 12, 12.1, model.Unreached)
	r := Measure(h.ops, nil, Config{Nodes: three, Start: sec(1), End: sec(10)})
	if f := r.All.Requests; f.Requests != 18 || f.Fraction != 0 {
		t.Fatalf("requests %+v, want 18 signs and no failure", f)
	}
	if r.All.Quiet != r.All.Requests {
		t.Fatalf("without faults every request is quiet: %+v vs %+v", r.All.Quiet, r.All.Requests)
	}
}

func TestConnected(t *testing.T) {
	five := []string{"n1", "n2", "n3", "n4", "n5"}
	ring := nemesis.Fault{} // each node reaches its ring neighbours only
	for i, a := range five {
		for j, b := range five {
			if d := (i - j + 5) % 5; i != j && d != 1 && d != 4 {
				ring.Cut = append(ring.Cut, [2]string{a, b})
			}
		}
	}
	oneWay := nemesis.Fault{Cut: [][2]string{{"n2", "n1"}, {"n3", "n2"}, {"n1", "n3"}}}
	bridge := nemesis.Fault{Cut: [][2]string{{"n1", "n3"}, {"n3", "n1"}}}
	for _, tc := range []struct {
		name   string
		nodes  []string
		faults []nemesis.Fault
		want   bool
	}{
		{"no fault", three, nil, true},
		{"clock fault", three, []nemesis.Fault{{Name: "clock"}}, true},
		{"one of three down", three, []nemesis.Fault{down("kill", "n1", 0, 1)}, true},
		{"two of three down", three, []nemesis.Fault{down("kill", "n1", 0, 1), down("pause", "n2", 0, 1)}, false},
		{"isolated node", three, []nemesis.Fault{isolate("n3", three, 0, 1)}, true},
		{"isolated node and another down", three, []nemesis.Fault{isolate("n3", three, 0, 1), down("pause", "n1", 0, 1)}, false},
		{"bridge", three, []nemesis.Fault{bridge}, true},
		{"one-way ring", three, []nemesis.Fault{oneWay}, false},
		{"majorities ring", five, []nemesis.Fault{ring}, false},
		{"two of five down", five, []nemesis.Fault{down("kill", "n1", 0, 1), down("kill", "n4", 0, 1)}, true},
	} {
		if got := Connected(tc.nodes, tc.faults); got != tc.want {
			t.Errorf("%s: connected %v, want %v", tc.name, got, tc.want)
		}
	}
}

// A sparse algorithm asked for only long after the heal recovers late by
// the clock, but the verdict holds only the time a sign waited to the
// bound: the wait is the workload's pace.
func TestTheVerdictDoesNotCountTimeNoSignWaited(t *testing.T) {
	h := newHistory(map[string]string{"ec": "ecdsa-secp256k1"})
	h.sign("ec", 1, 1.5, model.OK)
	h.sign("ec", 13, 13.3, model.OK)
	m := measureMetAfterKill(t, h, "n1")
	near(t, "recovery", m.RecoveryMax, 13.3-8)
	near(t, "wait", m.WaitMax, 13-8)
	near(t, "from the ask", m.AskedMax, 13.3-13)
}

// Only a sign that reached a node and asked for a new signature starts a
// recovery's clock: one sent to a node still down or booting (unreached)
// and a retry of a request already acknowledged (answered from the
// record) wait for nothing of the cluster's.
func TestUnreachedSignsAndRetriesOfAcknowledgedRequestsAskNothing(t *testing.T) {
	h := newHistory(map[string]string{"ec": "ecdsa-secp256k1"})
	done := h.sign("ec", 1, 1.5, model.OK)
	h.sign("ec", 8.1, 8.2, model.Unreached)  // to the node restarting
	h.signAs(done, "ec", 8.5, 8.6, model.OK) // a retry, from the record
	h.sign("ec", 12, 12.4, model.OK)
	m := measureMetAfterKill(t, h, "n1")
	if len(m.Recoveries) != 1 || m.Recoveries[0].Asked != sec(12) {
		t.Fatalf("recoveries %+v, want one asked at 12 s", m.Recoveries)
	}
	near(t, "from the ask", m.AskedMax, 12.4-12)
	near(t, "recovery from the heal", m.RecoveryMax, 12.4-8)
}

// A sign in flight across the heal that is answered after it is the next
// successful sign: the cluster had it to answer from the heal on.
func TestASignInFlightAcrossTheHealRecovers(t *testing.T) {
	h := newHistory(map[string]string{"ec": "ecdsa-secp256k1"})
	h.sign("ec", 1, 1.5, model.OK)
	h.sign("ec", 7, 8.9, model.OK) // asked during the fault, answered after the heal
	h.sign("ec", 15, 15.2, model.OK)
	m := measureMetAfterKill(t, h, "n3")
	near(t, "recovery", m.RecoveryMax, 8.9-8)
}
