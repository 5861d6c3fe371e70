package checker

import (
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/audit/audittest"
)

// holding returns node's view of recs: the records with seq in [from, to],
// its head at to, and the audit key active.
func holding(node string, recs []audit.Record, from, to uint64, pub ed25519.PublicKey) AuditChain {
	ch := AuditChain{Node: node, HeadSeq: to, HeadHash: recs[to-1].Hash, KeyState: "active", PublicKey: pub, FirstSeq: from}
	ch.Records = append([]audit.Record(nil), recs[from-1:to]...)
	return ch
}

func requireAuditViolation(t *testing.T, c Check, want ...string) {
	t.Helper()
	if c.Verdict != Invalid {
		t.Fatalf("verdict %s, want invalid: %s", c.Verdict, c)
	}
	for _, d := range c.Details {
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(d, w)
		}
		if ok {
			return
		}
	}
	t.Fatalf("no violation mentions %q: %s", want, c)
}

func TestAuditChainsThatAgreeAreValid(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	c, sums := AuditAgreement([]AuditChain{
		holding("n1", recs, 1, 40, pub),
		holding("n2", recs, 13, 40, pub), // its export starts later: rotated or caught up from a snapshot
		holding("n3", recs, 1, 35, pub),  // lags behind the others
	})
	if c.Verdict != Valid || c.Checked != 40+28+35 {
		t.Fatalf("agreeing chains: %s", c)
	}
	if len(c.Notes) != 1 || !strings.Contains(c.Notes[0], "seq 13-35 held by all 3") {
		t.Fatalf("notes %q, want the common range 13-35", c.Notes)
	}
	if s := sums[0]; !s.SignaturesChecked || s.Checkpoints != 3 || s.LastCheckpointSeq != 28 || s.Verified != 40 {
		t.Fatalf("n1 summary %+v: want 3 checkpoints verified under the audit key", s)
	}
	if s := sums[1]; s.ExportFirst != 13 || s.ExportLast != 40 || s.Checkpoints != 2 {
		t.Fatalf("n2 summary %+v", s)
	}
}

func TestAuditDivergenceNamesTheSeq(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	// n3 has applied another record at seq 20 and linked on from it: its
	// own chain verifies, yet it is not the chain the others hold.
	forked := audittest.Chain(40, priv, func(i int) string {
		if i == 19 {
			return "spiffe://kq-test/client/mallory"
		}
		return "spiffe://kq-test/client/admin"
	})
	if _, err := audit.Verify(forked, pub, false); err != nil {
		t.Fatalf("the fork must verify on its own: %v", err)
	}
	if forked[18].Hash != recs[18].Hash || forked[19].Hash == recs[19].Hash {
		t.Fatal("the fork does not start at seq 20")
	}
	c, _ := AuditAgreement([]AuditChain{
		holding("n1", recs, 1, 40, pub),
		holding("n2", recs, 1, 38, pub),
		holding("n3", forked, 1, 40, pub),
	})
	requireAuditViolation(t, c, "n1 and n3 disagree at seq 20")
	requireAuditViolation(t, c, "n2 and n3 disagree at seq 20")
	if strings.Contains(c.String(), "n1 and n2") {
		t.Fatalf("n1 and n2 agree, yet: %s", c)
	}
}

func TestAuditBrokenHashNamesNodeAndSeq(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	n2 := holding("n2", recs, 1, 40, pub)
	n2.Records[16].Actor = "someone else" // seq 17, not rehashed
	c, sums := AuditAgreement([]AuditChain{holding("n1", recs, 1, 40, pub), n2, holding("n3", recs, 1, 40, pub)})
	requireAuditViolation(t, c, "n2: audit chain broken at seq 17", "altered")
	if sums[1].Verified != 16 {
		t.Fatalf("n2 verified %d records, want the 16 before the bad one", sums[1].Verified)
	}
	if c.invalid != 1 {
		t.Fatalf("one altered record, %d violations: %s", c.invalid, c)
	}
}

func TestAuditCheckpointUnderAnotherKeyFails(t *testing.T) {
	pub, _, _ := ed25519.GenerateKey(nil)
	_, otherPriv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(25, otherPriv, nil)
	c, _ := AuditAgreement([]AuditChain{holding("n1", recs, 1, 25, pub), holding("n2", recs, 1, 25, pub)})
	requireAuditViolation(t, c, "n1: audit chain broken at seq 11", "does not verify under the audit key")

	// Before the audit key is active the links are still checked, and the
	// note says the signatures were not.
	n1, n2 := holding("n1", recs, 1, 25, nil), holding("n2", recs, 1, 25, nil)
	n1.KeyState, n2.KeyState = "generating", "generating"
	c, _ = AuditAgreement([]AuditChain{n1, n2})
	if c.Verdict != Valid || !strings.Contains(strings.Join(c.Notes, ";"), "signatures not checked") {
		t.Fatalf("no active key: %s", c)
	}
	// Two nodes that report different audit keys disagree.
	n2.KeyState, n2.PublicKey = "active", pub
	n1.KeyState, n1.PublicKey = "active", otherPriv.Public().(ed25519.PublicKey)
	c, _ = AuditAgreement([]AuditChain{n1, n2})
	requireAuditViolation(t, c, "n1 and n2 report different audit public keys")
}

func TestAuditGapsMustLinkAndLoseNothing(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	skip := func(ch AuditChain, from, to uint64) AuditChain {
		ch.Records = append(append([]audit.Record(nil), ch.Records[:from-ch.Records[0].Seq]...), ch.Records[to-ch.Records[0].Seq+1:]...)
		return ch
	}
	// n2 missed 11-19 (caught up from a snapshot); the others hold them.
	c, sums := AuditAgreement([]AuditChain{holding("n1", recs, 1, 40, pub), skip(holding("n2", recs, 1, 40, pub), 11, 19), holding("n3", recs, 1, 40, pub)})
	if c.Verdict != Valid || len(sums[1].Gaps) != 1 || sums[1].Gaps[0] != "11-19" {
		t.Fatalf("a gap others fill: %s, gaps %q", c, sums[1].Gaps)
	}
	// Every node missed them: that evidence is lost.
	c, _ = AuditAgreement([]AuditChain{skip(holding("n1", recs, 1, 40, pub), 11, 19), skip(holding("n2", recs, 1, 40, pub), 11, 19)})
	requireAuditViolation(t, c, "seqs 11-19 are held by no node")

	// After its gap, n2's stretch must continue the chain n1 holds: a
	// forged seq 20 that only n2 holds links to nothing.
	forged := audittest.Chain(40, priv, func(i int) string {
		if i == 19 {
			return "forged"
		}
		return "spiffe://kq-test/client/admin"
	})
	forged[19].PrevHash = recs[18].Hash + "00"
	for i := 19; i < len(forged); i++ {
		if i > 19 {
			forged[i].PrevHash = forged[i-1].Hash
		}
		forged[i].Hash = audit.Hash(&forged[i])
	}
	n2 := skip(holding("n2", forged, 1, 30, pub), 11, 19)
	c, _ = AuditAgreement([]AuditChain{holding("n1", recs, 1, 19, pub), n2})
	requireAuditViolation(t, c, "n2: seq 20 does not link to seq 19 as n1 holds it")
}

func TestAuditExportMustReachItsHead(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	short := holding("n2", recs, 1, 30, pub)
	short.HeadSeq, short.HeadHash = 40, recs[39].Hash
	c, _ := AuditAgreement([]AuditChain{holding("n1", recs, 1, 40, pub), short})
	requireAuditViolation(t, c, "n2: export ends at seq 30, before its head seq 40")

	wrongHead := holding("n2", recs, 1, 40, pub)
	wrongHead.HeadHash = recs[38].Hash
	c, _ = AuditAgreement([]AuditChain{holding("n1", recs, 1, 40, pub), wrongHead})
	requireAuditViolation(t, c, "n2: head seq 40")

	// A node that cannot be read leaves the check inconclusive, not valid.
	down := AuditChain{Node: "n3", Err: errors.New("connection refused")}
	c, _ = AuditAgreement([]AuditChain{holding("n1", recs, 1, 40, pub), holding("n2", recs, 1, 40, pub), down})
	if c.Verdict != Inconclusive || !strings.Contains(c.String(), "n3") {
		t.Fatalf("unreadable node: %s", c)
	}
}
