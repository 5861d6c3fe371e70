package fsm_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// cerModel is the reference model of one ceremony: who proposed it,
// which operators approved, where it is.
type cerModel struct {
	id       string
	proposer string
	quorum   int
	approved []string
	counted  int
	state    ceremony.State
	expires  int64
	version  uint64 // the policy version it was proposed under
	kind     policy.CeremonyKind
	c        *ceremony.Ceremony
}

// ended is the error an approval or cancel of m at now must meet:
// ErrCeremonyExpired once its time is up (which expires it in the model),
// ErrCeremonyEnded once it left pending; nil while it is pending.
func (m *cerModel) ended(now int64) error {
	switch {
	case m.state == ceremony.Pending && now >= m.expires:
		m.state = ceremony.Expired
		return fsm.ErrCeremonyExpired
	case m.state != ceremony.Pending:
		return fsm.ErrCeremonyEnded
	}
	return nil
}

// isErr reports whether err is want: nil for nil, else wrapping it.
func isErr(err, want error) bool {
	if want == nil {
		return err == nil
	}
	return errors.Is(err, want)
}

// TestCeremonyMatchesTheModel drives proposals, approvals (valid, replayed
// from another ceremony, forged, by a stranger, repeated), cancels and the
// passing of replicated time against a model of the rules: one approval
// per operator, the proposer's counted only when the policy says so,
// execution exactly at the quorum and only under the policy the proposal
// saw, nothing after expiry or an end. Every executed ceremony moves the
// policy (it creates a tenant), so pending ones proposed before fail at
// their quorum. Membership and threshold ceremonies leave the policy
// alone, but start a change that runs on: once one of a kind executed,
// the next of that kind is refused at its proposal and fails at its
// quorum. The state holds across a snapshot, and every ceremony's audit
// evidence verifies offline to the model's count.
func TestCeremonyMatchesTheModel(t *testing.T) {
	operators := []string{"alice", "bob", "carol"}
	rapid.Check(t, func(rt *rapid.T) {
		quorum := rapid.IntRange(1, 3).Draw(rt, "quorum")
		counts := rapid.Bool().Draw(rt, "proposerCounts")
		if quorum == 3 && !counts {
			quorum = 2 // 3 of 3 with the proposer excluded could never be proposed by an operator
		}
		h := ceremonyFixture(t, fmt.Sprintf("ceremonies: {default_quorum: %d, proposer_counts: %t}\n", quorum, counts))
		h.thresholdKey("t")
		// busy: a membership change or the threshold reshare executed and
		// runs on (nothing here finishes it).
		busy := map[policy.CeremonyKind]bool{}
		ctxOf := map[policy.CeremonyKind]*ceremony.Context{
			policy.KindMembership: {Bootstrap: bootstrap()},
			policy.KindThreshold:  {Holders: []string{"n1", "n2", "n3"}, Committee: []string{"n1", "n2"}},
		}
		st, _ := h.f.PolicyInForce()
		version := st.Version
		now := int64(time.Hour) // past every stamp of the fixture
		var cers []*cerModel
		steps := rapid.IntRange(5, 50).Draw(rt, "steps")
		for step := range steps {
			if step == steps/2 {
				f := restoredFSM(t, h.cfg, snapshotBytes(t, h.f))
				if err := f.EnableAudit(auditchain.DefaultConfig()); err != nil {
					t.Fatal(err)
				}
				h.f = f
			}
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 3 || len(cers) == 0:
				who := rapid.SampledFrom(append(slices.Clone(operators), "admin")).Draw(rt, "proposer")
				ttl := time.Duration(rapid.IntRange(1, 20).Draw(rt, "ttl")) * time.Second
				kind := rapid.SampledFrom([]policy.CeremonyKind{policy.KindTenantCreate, policy.KindTenantCreate,
					policy.KindMembership, policy.KindThreshold}).Draw(rt, "kind")
				params := fmt.Sprintf(`{"tenant":"t%d"}`, step)
				switch kind {
				case policy.KindMembership:
					n := newMember(fmt.Sprintf("x%d", step), 10+step)
					params = jsonOf(ceremony.MembershipParams{Op: membership.Add, New: &ceremony.NewMember{ID: n.ID, Raft: n.Raft, Peer: n.Peer, Client: n.Client}})
				case policy.KindThreshold:
					params = `{"key":"t","threshold":2}`
				}
				res := h.apply(&fsm.ProposeCeremony{Kind: kind, Params: params,
					Nonce: nonce(step), TTL: int64(ttl), Context: ctxOf[kind], Actor: spiffe(who), Time: now})
				eligible := 3
				if who != "admin" && !counts {
					eligible = 2
				}
				if quorum > eligible || busy[kind] {
					if !errors.Is(res.Err, fsm.ErrBadTransition) {
						rt.Fatalf("%s proposal by %s with quorum %d (busy %t): %v, want refused", kind, who, quorum, busy[kind], res.Err)
					}
					continue
				}
				if res.Err != nil {
					rt.Fatalf("proposal by %s: %v", who, res.Err)
				}
				cers = append(cers, &cerModel{id: res.Ceremony.ID, proposer: who, quorum: quorum, state: ceremony.Pending,
					expires: now + int64(ttl), version: version, kind: kind, c: res.Ceremony})
			case op < 8:
				m := rapid.SampledFrom(cers).Draw(rt, "ceremony")
				who := rapid.SampledFrom(append(slices.Clone(operators), "mallory")).Draw(rt, "approver")
				mode := rapid.SampledFrom([]string{"valid", "valid", "valid", "replay", "forged"}).Draw(rt, "mode")
				a := approval(m.c, who)
				a.Time, a.Context = now, ctxOf[m.kind]
				switch mode {
				case "replay": // a valid signature, over another ceremony's digest
					other := sha256.Sum256([]byte(m.c.Digest))
					a.Signature = hex.EncodeToString(ed25519.Sign(operatorKey(who), other[:]))
				case "forged":
					a.Signature = hex.EncodeToString(make([]byte, ed25519.SignatureSize))
				}
				res := h.apply(a)
				want := m.ended(now)
				switch {
				case want != nil: // over: nothing else is looked at
				case who == "mallory":
					want = fsm.ErrNotApprover
				case mode != "valid":
					want = fsm.ErrBadApproval
				case slices.Contains(m.approved, who):
					want = fsm.ErrAlreadyApproved
				default:
					m.approved = append(m.approved, who)
					if who != m.proposer || counts {
						m.counted++
					}
					if m.counted >= m.quorum {
						switch {
						case m.version != version || busy[m.kind]:
							m.state, want = ceremony.Failed, fsm.ErrCeremonyFailed
						case m.kind == policy.KindTenantCreate:
							m.state = ceremony.Executed
							version++ // the policy moved
						default:
							m.state, busy[m.kind] = ceremony.Executed, true
						}
					}
				}
				if !isErr(res.Err, want) {
					rt.Fatalf("%s approves %s (%s): %v, want %v", who, m.id, mode, res.Err, want)
				}
			case op < 9:
				m := rapid.SampledFrom(cers).Draw(rt, "ceremony")
				res := h.apply(&fsm.CancelCeremony{ID: m.id, Actor: spiffe("bob"), Time: now})
				want := m.ended(now)
				if want == nil {
					m.state = ceremony.Cancelled
				}
				if !isErr(res.Err, want) {
					rt.Fatalf("cancel %s: %v, want %v", m.id, res.Err, want)
				}
			default:
				now += int64(time.Duration(rapid.IntRange(1, 10).Draw(rt, "tick")) * time.Second)
			}
			for _, m := range cers {
				got, ok := h.f.Ceremony(m.id)
				if !ok || got.State != m.state || got.Counted() != m.counted || len(got.Approvals) != len(m.approved) {
					rt.Fatalf("ceremony %s: %+v, model %+v", m.id, got, m)
				}
			}
			if st, _ := h.f.PolicyInForce(); st.Version != version {
				rt.Fatalf("policy v%d, model v%d", st.Version, version)
			}
			if started := h.f.Members() != nil; started != busy[policy.KindMembership] {
				rt.Fatalf("membership change started %t, model %t", started, busy[policy.KindMembership])
			}
			if k, _ := h.f.Key("t"); (k.Version(1).Refresh != nil) != busy[policy.KindThreshold] {
				rt.Fatalf("reshare of t %+v, model started %t", k.Version(1).Refresh, busy[policy.KindThreshold])
			}
		}
		recs := h.f.AuditRecent(0, 100_000)
		for _, m := range cers {
			rep, err := audit.VerifyCeremony(recs, m.id)
			want := string(m.state)
			if m.state == ceremony.Expired {
				want = audit.CeremonyPending // expiry is marked by a refused entry, not evidence
			}
			if err != nil || int(rep.Counted) != m.counted || rep.State != want {
				rt.Fatalf("offline verify of %s: %+v, %v; model %+v", m.id, rep, err, m)
			}
		}
	})
}
