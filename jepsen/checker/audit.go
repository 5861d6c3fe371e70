package checker

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// AuditChain is one node's copy of the audit chain as its AuditService
// returned it: the head, read first, then every record its export holds,
// in export order.
type AuditChain struct {
	Node      string
	HeadSeq   uint64
	HeadHash  string
	FirstSeq  uint64 // oldest seq in the node's export files; 0 when none
	KeyState  string // the audit key: absent, generating, active or failed
	PublicKey []byte // the audit key, once active
	Records   []audit.Record
	// Err says why the chain could not be read; Records are then ignored
	// and the check is at best inconclusive.
	Err error
}

// AuditNode summarises one node's chain for the report.
type AuditNode struct {
	Node     string `json:"node"`
	HeadSeq  uint64 `json:"head_seq"`
	FirstSeq uint64 `json:"first_seq"` // as Head reported it
	// ExportFirst and ExportLast bound the records the export returned.
	ExportFirst uint64 `json:"export_first_seq"`
	ExportLast  uint64 `json:"export_last_seq"`
	Records     int    `json:"records"`
	// Verified is how many records, from ExportFirst on, verified before
	// the chain broke (all of them on a valid chain).
	Verified          int    `json:"verified"`
	Checkpoints       uint64 `json:"checkpoints"`
	LastCheckpointSeq uint64 `json:"last_checkpoint_seq,omitempty"`
	SignaturesChecked bool   `json:"signatures_checked"`
	// Gaps are seq ranges the export skips ("51-119"): a node that caught
	// up from a snapshot restarts its export at the first record it has.
	Gaps  []string `json:"gaps,omitempty"`
	Error string   `json:"error,omitempty"`
}

// nodeChain is what verifying one node leaves for the cross-node checks.
type nodeChain struct {
	held        map[uint64]string // seq -> hash of every verified record
	first, last uint64            // verified range, gaps included
	starts      []*audit.Record   // first record of each contiguous stretch
	checkpoints []*audit.Record   // verified records that carry a checkpoint
	broken      bool
}

// AuditAgreement checks that the nodes' audit chains are one chain: each
// node's export verifies with the product's own verifier (links, hashes,
// and checkpoint signatures under the audit public key once that key is
// active; an export may start after seq 1, and may skip a stretch it
// never received, each stretch then verified on its own); every seq held
// by two nodes has the same hash on both; a stretch that starts after a
// gap links to the hash another node holds for the seq before it; no seq
// between the lowest and the highest is lost on every node; each export
// reaches its node's head and holds the head's hash there; and the range
// common to all nodes reaches at least the smallest head.
//
// A violation names the node and the seq. A node that could not be read
// makes the check inconclusive.
func AuditAgreement(chains []AuditChain) (Check, []AuditNode) {
	c := Check{Name: "audit", Verdict: Valid}
	sums := make([]AuditNode, len(chains))
	pub := auditKey(&c, chains)
	var readable []int
	verified := make([]nodeChain, len(chains))
	for i := range chains {
		ch := &chains[i]
		sums[i] = AuditNode{Node: ch.Node, HeadSeq: ch.HeadSeq, FirstSeq: ch.FirstSeq, Records: len(ch.Records)}
		if ch.Err != nil {
			sums[i].Error = ch.Err.Error()
			c.fail(Inconclusive, "%s: audit chain not read: %v", ch.Node, ch.Err)
			continue
		}
		verified[i] = verifyNode(&c, ch, pub, &sums[i])
		c.Checked += sums[i].Verified
		readable = append(readable, i)
	}
	if len(readable) == 0 {
		return c, sums
	}
	pairwise(&c, chains, verified, readable)
	links(&c, chains, verified, readable)
	coverage(&c, chains, verified, readable)
	if pub == nil {
		c.note("checkpoint signatures not checked: no node reports an active audit key")
	}
	return c, sums
}

// auditKey returns the audit public key the nodes agree on, nil when no
// node reports it active yet; two different keys are a violation.
func auditKey(c *Check, chains []AuditChain) ed25519.PublicKey {
	var pub []byte
	from := ""
	for _, ch := range chains {
		if ch.Err != nil || ch.KeyState != "active" {
			continue
		}
		switch {
		case pub == nil:
			pub, from = ch.PublicKey, ch.Node
		case !bytes.Equal(pub, ch.PublicKey):
			c.fail(Invalid, "%s and %s report different audit public keys (%x, %x)", from, ch.Node, pub, ch.PublicKey)
		}
	}
	if pub == nil {
		return nil
	}
	return ed25519.PublicKey(pub)
}

// verifyNode runs the audit verifier over one node's export, one verifier
// per contiguous stretch, and stops at the first record that breaks it.
func verifyNode(c *Check, ch *AuditChain, pub ed25519.PublicKey, sum *AuditNode) nodeChain {
	nc := nodeChain{held: map[uint64]string{}}
	sum.SignaturesChecked = pub != nil
	if n := len(ch.Records); n > 0 {
		sum.ExportFirst, sum.ExportLast = ch.Records[0].Seq, ch.Records[n-1].Seq
	}
	var v *audit.Verifier
	finish := func() {
		if v == nil {
			return
		}
		if rep, err := v.Finish(); err == nil {
			sum.Checkpoints += rep.Checkpoints
			sum.LastCheckpointSeq = max(sum.LastCheckpointSeq, rep.LastCheckpointSeq)
		}
	}
	for i := range ch.Records {
		r := &ch.Records[i]
		if v == nil || r.Seq > nc.last+1 {
			if v != nil {
				sum.Gaps = append(sum.Gaps, fmt.Sprintf("%d-%d", nc.last+1, r.Seq-1))
				finish()
			}
			// Only a stretch that starts at seq 1 can be held to the genesis
			// hash; a later one's prev_hash is checked against other nodes.
			v = audit.NewVerifier(pub, r.Seq != 1)
			nc.starts = append(nc.starts, r)
		}
		if err := v.Add(r); err != nil {
			nc.broken = true
			var ve *audit.VerifyError
			if errors.As(err, &ve) {
				c.fail(Invalid, "%s: audit chain broken at seq %d (record %d of its export): %s", ch.Node, r.Seq, i+1, ve.Problem)
			} else {
				c.fail(Invalid, "%s: audit chain broken at seq %d: %v", ch.Node, r.Seq, err)
			}
			v = nil
			break
		}
		if len(nc.held) == 0 {
			nc.first = r.Seq
		}
		nc.held[r.Seq] = r.Hash
		nc.last = r.Seq
		sum.Verified++
		if r.Checkpoint != nil {
			nc.checkpoints = append(nc.checkpoints, r)
		}
	}
	finish()
	return nc
}

// pairwise compares every two nodes on the seqs both hold; the chain links
// every record to the one before, so only the first difference is named.
func pairwise(c *Check, chains []AuditChain, nc []nodeChain, readable []int) {
	for x, i := range readable {
		for _, j := range readable[x+1:] {
			for _, seq := range slices.Sorted(maps.Keys(nc[i].held)) {
				h, ok := nc[j].held[seq]
				if ok && h != nc[i].held[seq] {
					c.fail(Invalid, "%s and %s disagree at seq %d: hash %s vs %s", chains[i].Node, chains[j].Node, seq, short(nc[i].held[seq]), short(h))
					break
				}
			}
		}
	}
}

// links checks what a single node's verifier cannot: that a stretch after a
// gap continues the chain other nodes hold, and that a checkpoint signs the
// hash the nodes hold for its seq.
func links(c *Check, chains []AuditChain, nc []nodeChain, readable []int) {
	holder := func(seq uint64) (string, string, bool) {
		for _, j := range readable {
			if h, ok := nc[j].held[seq]; ok {
				return h, chains[j].Node, true
			}
		}
		return "", "", false
	}
	for _, i := range readable {
		for _, r := range nc[i].starts {
			if r.Seq <= 1 {
				continue
			}
			if _, ok := nc[i].held[r.Seq]; !ok {
				continue // broke on its first record: already named
			}
			if h, from, ok := holder(r.Seq - 1); ok && h != r.PrevHash {
				c.fail(Invalid, "%s: seq %d does not link to seq %d as %s holds it (prev_hash %s, hash %s)",
					chains[i].Node, r.Seq, r.Seq-1, from, short(r.PrevHash), short(h))
			}
		}
		for _, r := range nc[i].checkpoints {
			cp := r.Checkpoint
			if h, from, ok := holder(cp.Seq); ok && h != cp.Head {
				c.fail(Invalid, "%s: the checkpoint in seq %d signs head %s for seq %d, but %s holds %s there",
					chains[i].Node, r.Seq, short(cp.Head), cp.Seq, from, short(h))
			}
		}
	}
}

// coverage checks that the chains together lose nothing, that each export
// reaches its node's head, and that the range every node holds reaches the
// smallest head.
func coverage(c *Check, chains []AuditChain, nc []nodeChain, readable []int) {
	union := map[uint64]bool{}
	minHead := chains[readable[0]].HeadSeq
	for _, i := range readable {
		for seq := range nc[i].held {
			union[seq] = true
		}
		minHead = min(minHead, chains[i].HeadSeq)
	}
	if len(union) == 0 {
		if minHead == 0 {
			c.fail(Inconclusive, "no node holds any audit record")
		}
	}
	seqs := slices.Sorted(maps.Keys(union))
	for k := 1; k < len(seqs); k++ {
		if seqs[k] != seqs[k-1]+1 {
			c.fail(Invalid, "seqs %d-%d are held by no node", seqs[k-1]+1, seqs[k]-1)
		}
	}
	// A broken chain is already named; its truncated range would only
	// repeat that.
	lo, hi, intact := uint64(0), uint64(0), 0
	for _, i := range readable {
		ch, n := &chains[i], &nc[i]
		if n.broken {
			continue
		}
		switch {
		case n.last < ch.HeadSeq:
			c.fail(Invalid, "%s: export ends at seq %d, before its head seq %d", ch.Node, n.last, ch.HeadSeq)
		case ch.HeadSeq > 0 && n.held[ch.HeadSeq] != ch.HeadHash:
			c.fail(Invalid, "%s: head seq %d is %s, but its export holds %s there", ch.Node, ch.HeadSeq, short(ch.HeadHash), short(n.held[ch.HeadSeq]))
		}
		if intact == 0 {
			lo, hi = n.first, n.last
		}
		lo, hi = max(lo, n.first), min(hi, n.last)
		intact++
	}
	switch {
	case minHead == 0 || intact == 0:
	case hi < minHead:
		c.fail(Invalid, "the range all nodes hold ends at seq %d, below the smallest head (seq %d)", hi, minHead)
	case lo > hi:
		c.note("no seq is held by every node (exports start at different seqs); pairs were compared")
	default:
		c.note("seq %d-%d held by all %d intact nodes; smallest head %d", lo, hi, intact, minHead)
	}
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12]
	}
	return h
}
