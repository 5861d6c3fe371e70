package metrics

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmtest"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
	"github.com/keyquorum/keyquorum/tss"
)

// applyHook adapts a function to fsm.Observer.
type applyHook func(uint64, fsm.Command, fsm.Result)

func (h applyHook) Applied(i uint64, c fsm.Command, r fsm.Result) { h(i, c, r) }

// metricsFixture is a real FSM feeding a metrics instance the way a node
// wires it: the observer hook sees each entry right after it applied.
type metricsFixture struct {
	t   *testing.T
	fsm *fsmtest.Machine
	m   *Set
	now time.Time
}

func newMetricsFixture(t *testing.T) *metricsFixture {
	t.Helper()
	machine := fsmtest.New(t)
	f := &metricsFixture{t: t, fsm: machine, now: time.Unix(1_700_000_000, 0)}
	f.m = New(Source{
		State: machine,
		Raft: func() (consensus.Stats, bool) {
			i := machine.Index()
			return consensus.Stats{State: "Leader", Term: 7, CommitIndex: i, AppliedIndex: i, LastIndex: i}, true
		},
		Running:    func() int { return 3 },
		Parked:     func() int { return 2 },
		PreParams:  func() bool { return true },
		PoolTarget: 4,
	})
	f.m.StartedAt(0)
	machine.SetObserver(applyHook(f.m.Applied))
	return f
}

func (f *metricsFixture) apply(cmd fsm.Command) fsm.Result {
	f.t.Helper()
	return f.fsm.Apply(cmd)
}

func (f *metricsFixture) ok(cmd fsm.Command) fsm.Result {
	f.t.Helper()
	return f.fsm.OK(cmd)
}

// activeKey creates and activates a key of every member n1..n3.
func (f *metricsFixture) activeKey(name, alg string) {
	f.t.Helper()
	members := []string{"n1", "n2", "n3"}
	f.ok(&fsm.CreateKey{RequestID: "create-" + name, Name: name, Algorithm: alg, Threshold: 1, Members: members,
		Actor: "client:test", Time: f.now.UnixNano()})
	for _, m := range members {
		f.ok(&fsm.ShareStored{Key: name, Version: 1, Node: m, PublicKey: []byte("pub-" + name)})
	}
	f.ok(&fsm.IssueHandle{RequestID: "handle-" + name, HandleID: "h-" + name, TokenHash: fixtureProof(name),
		Key: name, Purpose: fsm.DefaultPurpose, TTL: int64(time.Hour), Actor: "client:test", Time: f.now.UnixNano()})
}

// fixtureProof is the token hash of the fixture's handle for key.
func fixtureProof(key string) [32]byte { return fsm.HandleTokenHash([]byte("token-" + key)) }

func (f *metricsFixture) presign(id string, committee []string, ttl time.Duration) {
	f.t.Helper()
	f.ok(&fsm.PresignRequested{ID: id, Key: "ec", Committee: committee, Time: f.now.UnixNano(), TTL: int64(ttl)})
}

func (f *metricsFixture) park(id string, committee []string, boot string) {
	f.t.Helper()
	for _, m := range committee {
		f.ok(&fsm.PresignReady{ID: id, Node: m, Boot: boot})
	}
}

// scrape serves one scrape through the HTTP handler a node exposes and
// returns the text and its samples keyed by "name{labels}".
// scrape serves one scrape through the handler a node exposes.
func scrape(t *testing.T, m *Set) (string, map[string]float64) {
	t.Helper()
	return metricstest.Scrape(t, m.Handler())
}

// TestMetricsFollowThePoolAndTheRequestPath drives a real FSM through a
// presignature's possible ends and checks each is counted under its reason,
// that the pool gauges read the state at scrape time, and that the request
// and session counters label by outcome.
func TestMetricsFollowThePoolAndTheRequestPath(t *testing.T) {
	f := newMetricsFixture(t)
	for _, m := range []string{"n1", "n2", "n3"} {
		f.ok(&fsm.PreParamsReady{Node: m})
		f.ok(&fsm.NodeBooted{Node: m, Boot: "b1"})
	}
	f.activeKey("ec", "ecdsa-secp256k1")
	f.activeKey("ed", "ed25519")
	c12, c23, c13 := []string{"n1", "n2"}, []string{"n2", "n3"}, []string{"n1", "n3"}

	f.presign("p-used", c12, time.Hour)
	f.park("p-used", c12, "b1")
	f.presign("p-stalled", c12, time.Hour)
	f.presign("p-failed", c23, time.Hour)
	_, s := scrape(t, f.m)
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_presign_pool_ready{key="ec"}`:   1,
		`keyquorum_presign_pool_pending{key="ec"}`: 2,
		`keyquorum_presign_pool_target`:            4,
		`keyquorum_keys{state="active"}`:           2,
		`keyquorum_keys{state="generating"}`:       0,
	})
	if _, ok := s[`keyquorum_presign_pool_ready{key="ed"}`]; ok {
		t.Error("an Ed25519 key has pool gauges; presignatures are ECDSA only")
	}

	f.ok(&fsm.PresignDiscarded{ID: "p-stalled", Node: "n1", Reason: PresignStalledReason})
	f.ok(&fsm.PresignDiscarded{ID: "p-failed", Node: "n2", Reason: "tss: session timed out waiting for [n3]"})
	marker := sha256.Sum256([]byte("metrics-marker-7d1f"))
	f.ok(&fsm.SignRequested{RequestID: "req-secret-id", Key: "ec", Handle: "h-ec", HandleProof: fixtureProof("ec"), Digest: marker[:], Committee: c12,
		Actor: "client:alice", Time: f.now.UnixNano(), Presig: "p-used"})

	f.presign("p-expires", c13, time.Second)
	f.now = f.now.Add(2 * time.Second) // the next entry's time expires it
	f.presign("p-survives", c12, time.Hour)
	f.presign("p-restart", c13, time.Hour)
	f.ok(&fsm.NodeBooted{Node: "n3", Boot: "b2"})

	// A presignature refused at use because it expired counts as expired.
	f.presign("p-late", c12, time.Second)
	f.park("p-late", c12, "b1")
	f.now = f.now.Add(2 * time.Second)
	late := sha256.Sum256([]byte("late"))
	if res := f.apply(&fsm.SignRequested{RequestID: "req-late", Key: "ec", Handle: "h-ec", HandleProof: fixtureProof("ec"), Digest: late[:], Committee: c12,
		Actor: "client:alice", Time: f.now.UnixNano(), Presig: "p-late"}); res.Err == nil {
		t.Fatal("an expired presignature was accepted")
	}

	f.m.SignDone(PathPresigned, 4*time.Millisecond, nil)
	f.m.SignDone(PathFull, 300*time.Millisecond, nil)
	f.m.SignDone(PathNone, time.Millisecond, status.Error(codes.InvalidArgument, "bad digest"))
	f.m.SignDone(PathFull, 9*time.Second, status.Error(codes.Unavailable, "signing failed"))
	began := time.Now().Add(-2 * time.Second)
	f.m.Session(KindSign, began, fmt.Errorf("attempt: %w", tss.ErrTimeout))
	f.m.Session(KindPresign, began, context.DeadlineExceeded)
	f.m.Session(KindKeygen, began, nil)
	f.m.Session(KindPresignedSig, began, fmt.Errorf("node: boom"))

	text, s := scrape(t, f.m)
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_presign_discarded_total{key="ec",reason="stalled"}`: 1,
		`keyquorum_presign_discarded_total{key="ec",reason="failed"}`:  1,
		`keyquorum_presign_discarded_total{key="ec",reason="expired"}`: 2,
		`keyquorum_presign_discarded_total{key="ec",reason="restart"}`: 1,
		`keyquorum_presign_pool_ready{key="ec"}`:                       0,
		`keyquorum_presign_pool_pending{key="ec"}`:                     1, // p-survives

		`keyquorum_sign_requests_total{code="OK",outcome="ok",path="presigned"}`:              1,
		`keyquorum_sign_requests_total{code="OK",outcome="ok",path="full"}`:                   1,
		`keyquorum_sign_requests_total{code="InvalidArgument",outcome="refused",path="none"}`: 1,
		`keyquorum_sign_requests_total{code="Unavailable",outcome="failed",path="full"}`:      1,
		`keyquorum_sign_duration_seconds_bucket{path="presigned",le="0.005"}`:                 1,
		`keyquorum_sign_duration_seconds_bucket{path="presigned",le="0.0025"}`:                0,
		`keyquorum_sign_duration_seconds_count{path="full"}`:                                  1, // failures are not timed
		`keyquorum_tss_sessions_total{kind="sign",outcome="timeout"}`:                         1,
		`keyquorum_tss_sessions_total{kind="presign",outcome="timeout"}`:                      1,
		`keyquorum_tss_sessions_total{kind="keygen",outcome="ok"}`:                            1,
		`keyquorum_tss_sessions_total{kind="presigned_sign",outcome="failed"}`:                1,
		// Only the successful session is timed: 2 s, in the 2.5 s bucket.
		`keyquorum_tss_session_seconds_count{kind="keygen"}`:           1,
		`keyquorum_tss_session_seconds_bucket{kind="keygen",le="1"}`:   0,
		`keyquorum_tss_session_seconds_bucket{kind="keygen",le="2.5"}`: 1,
		`keyquorum_raft_state{state="leader"}`:                         1,
		`keyquorum_raft_state{state="follower"}`:                       0,
		`keyquorum_raft_term`:                                          7,
		`keyquorum_raft_applied_index`:                                 float64(f.fsm.Index()),
		`keyquorum_tss_sessions_running`:                               3,
		`keyquorum_presign_parked`:                                     2,
		`keyquorum_preparams_ready`:                                    1,
		`keyquorum_sign_pending`:                                       1, // req-secret-id
		`keyquorum_audit_head_seq`:                                     float64(f.fsm.AuditHead().Seq),
	})
	if f.fsm.AuditHead().Seq == 0 {
		t.Error("audit head is zero after applied entries")
	}
	for _, series := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := s[series]; !ok {
			t.Errorf("runtime/process series %s missing", series)
		}
	}
	assertNoLeak(t, text, marker[:], "req-secret-id", "client:alice", "p-used", "pub-ec")
}

// assertNoLeak fails if a scrape contains any of the secrets, as raw
// bytes, hex (either case) or base64.
func assertNoLeak(t *testing.T, text string, digest []byte, strs ...string) {
	t.Helper()
	needles := []string{string(digest), hex.EncodeToString(digest), strings.ToUpper(hex.EncodeToString(digest)),
		base64.StdEncoding.EncodeToString(digest), base64.RawURLEncoding.EncodeToString(digest)}
	for _, s := range strs {
		needles = append(needles, s, hex.EncodeToString([]byte(s)), base64.StdEncoding.EncodeToString([]byte(s)))
	}
	for _, nd := range needles {
		if strings.Contains(text, nd) {
			t.Errorf("scrape contains %q", nd)
		}
	}
}

// TestMetricsSkipReplayedEntries: after a restart raft replays the log
// through the FSM; discards that happened in an earlier life must not be
// counted again, while the tracker still learns the pool they left.
func TestMetricsSkipReplayedEntries(t *testing.T) {
	f := newMetricsFixture(t)
	f.m.StartedAt(1 << 40) // every entry below is a replay
	for _, m := range []string{"n1", "n2", "n3"} {
		f.ok(&fsm.PreParamsReady{Node: m})
		f.ok(&fsm.NodeBooted{Node: m, Boot: "b1"})
	}
	f.activeKey("ec", "ecdsa-secp256k1")
	f.presign("p1", []string{"n1", "n2"}, time.Hour)
	f.ok(&fsm.PresignDiscarded{ID: "p1", Node: "n1", Reason: PresignStalledReason})
	text, s := scrape(t, f.m)
	if strings.Contains(text, "keyquorum_presign_discarded_total{") {
		t.Errorf("replayed discard counted:\n%s", grepLines(text, "discarded"))
	}
	if len(f.m.pool.m) != 0 {
		t.Errorf("tracker holds %d presignatures after the pool emptied", len(f.m.pool.m))
	}
	metricstest.Expect(t, s, map[string]float64{`keyquorum_presign_pool_pending{key="ec"}`: 0})
}

// TestMetricsRegistriesArePerNode: two nodes in one process register the
// same names without colliding, and nothing lands in the default registry.
func TestMetricsRegistriesArePerNode(t *testing.T) {
	a := New(Source{})
	b := New(Source{})
	a.SignDone(PathFull, time.Millisecond, nil)
	_, sa := scrape(t, a)
	_, sb := scrape(t, b)
	key := `keyquorum_sign_requests_total{code="OK",outcome="ok",path="full"}`
	if sa[key] != 1 {
		t.Errorf("a: %s = %v, want 1", key, sa[key])
	}
	if _, ok := sb[key]; ok {
		t.Errorf("b sees a's request")
	}
	// Without raft the raft series are absent rather than zero.
	if _, ok := sb["keyquorum_raft_term"]; ok {
		t.Error("raft series present before raft opened")
	}
}

func grepLines(text, sub string) string {
	var b bytes.Buffer
	for _, l := range strings.Split(text, "\n") {
		if strings.Contains(l, sub) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// TestMetricsCountKeyChanges: applied lifecycle changes count by op, not a
// refused one, a replayed one, or an op the FSM does not know by name.
func TestMetricsCountKeyChanges(t *testing.T) {
	m := New(Source{})
	m.StartedAt(10)
	m.Applied(5, &fsm.ChangeKey{Op: fsm.OpRollback, Key: "k"}, fsm.Result{}) // replayed
	m.Applied(11, &fsm.ChangeKey{Op: fsm.OpRollback, Key: "k"}, fsm.Result{})
	m.Applied(12, &fsm.ChangeKey{Op: fsm.OpRollback, Key: "k"}, fsm.Result{Err: fsm.ErrKeyNotActive})
	m.Applied(13, &fsm.ChangeKey{Op: fsm.OpPromote, Key: "k"}, fsm.Result{})
	m.Applied(14, &fsm.ChangeKey{Op: "frobnicate", Key: "k"}, fsm.Result{})
	_, s := scrape(t, m)
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_key_changes_total{op="rollback"}`: 1,
		`keyquorum_key_changes_total{op="promote"}`:  1,
		`keyquorum_key_changes_total{op="other"}`:    1,
	})
}

// TestMetricsCountInvariantViolations: a committed report whose signature
// does not verify, and an export line that disagrees with the replicated
// chain, each count once; a replayed one and other refusals do not. Both
// series exist at zero before anything happens, so an alert on increase
// fires on the first violation.
func TestMetricsCountInvariantViolations(t *testing.T) {
	f := newMetricsFixture(t)
	_, s := scrape(t, f.m)
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_invariant_violations_total{invariant="bad_signature"}`: 0,
		`keyquorum_invariant_violations_total{invariant="audit_export"}`:  0,
	})
	f.m.StartedAt(10)
	bad := fsm.Result{Err: fmt.Errorf("signature for %q from n2: %w", "r1", fsm.ErrBadSignature)}
	f.m.Applied(5, &fsm.SignCompleted{RequestID: "r1", Node: "n2"}, bad) // replayed
	f.m.Applied(11, &fsm.SignCompleted{RequestID: "r1", Node: "n2"}, bad)
	f.m.Applied(12, &fsm.SignCompleted{RequestID: "r2", Node: "n2"}, fsm.Result{Err: fsm.ErrStale})

	_, s = scrape(t, f.m)
	metricstest.Expect(t, s, map[string]float64{
		`keyquorum_invariant_violations_total{invariant="bad_signature"}`: 1,
		`keyquorum_invariant_violations_total{invariant="audit_export"}`:  0,
	})
}
