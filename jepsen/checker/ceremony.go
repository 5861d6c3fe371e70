package checker

import (
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Ceremonies judges the ceremony workload from what the clients saw and
// from the nodes' audit exports, trusting neither the cluster's counts nor
// its states:
//
//   - every ceremony an answer showed is re-verified offline: its digest
//     recomputed from its fields, every approval's key in the approver
//     group and its signature over the digest, one approval per operator,
//     the proposer counted only when allowed; an executed (or failed)
//     ceremony has at least its quorum of such approvals;
//   - no bad approval (a signature over another ceremony's digest, a key
//     no policy lists) is ever accepted;
//   - nothing acknowledged is lost: an acknowledged approval (or one
//     refused as already given) is in the final state and in the audit
//     chain, an acknowledged execution or cancellation is final;
//   - every ceremony in the audit chain (all nodes' exports merged by seq)
//     verifies with audit.VerifyCeremony, the check `kq ceremony verify`
//     runs: in particular no ceremony executed below its quorum;
//   - an executed change is visible on every node afterwards: each node's
//     chain reaches the executing record, and the final reads through
//     every node show its effect (a key-policy ceremony's key allows
//     deletion; a tenant-create's tenant is listed);
//   - a key allows deletion only after a ceremony for it executed, and a
//     read called after an acknowledged execution shows it.
func Ceremonies(ops []CeremonyOp, chains []AuditChain) Check {
	c := Check{Name: "ceremonies", Verdict: Valid}
	// The audit chain first: its verdict needs no node's word (the
	// approvals in it are signed), so its violations lead the details,
	// which keep only the first few.
	merged, complete := mergeChains(chains)
	reports := map[string]audit.CeremonyReport{}
	for _, id := range ceremonyIDs(merged) {
		rep, err := audit.VerifyCeremony(merged, id)
		if err != nil {
			c.fail(Invalid, "%v", err)
			continue
		}
		reports[id] = rep
	}
	for _, op := range ops {
		if op.Status == model.OK {
			for _, v := range op.Ceremonies {
				c.Checked++
				for _, bad := range verifyView(v) {
					c.fail(Invalid, "%s answer from %s at %s: %s", op.Op, op.Node, at(op.Return), bad)
				}
			}
		}
		if op.Op == CeremonyApprove && op.Bad != "" && op.Status == model.OK {
			c.fail(Invalid, "a bad approval (%s, by %q) of %s was accepted by %s at %s", op.Bad, op.Operator, op.ID, op.Node, at(op.Return))
		}
	}
	final, haveFinal := finalCeremonies(ops)
	if !complete {
		c.fail(Inconclusive, "some node's audit chain could not be read: the ceremonies were verified on the others")
	}
	if !haveFinal {
		c.fail(Inconclusive, "no final list of ceremonies: acknowledged approvals not checked against the final state")
	}
	acked(&c, ops, final, haveFinal, reports)
	visible(&c, ops, chains, reports, merged)
	c.note("%d ceremonies in the audit chain, %d executed", len(reports), countExecuted(reports))
	return c
}

// verifyView re-verifies a ceremony as an answer showed it.
func verifyView(v CeremonyView) []string {
	var bad []string
	d := audit.CeremonyDigest(v.Cluster, v.ID, v.Nonce, v.Kind, v.ParamsSHA256, v.ExpiresAt)
	if hex.EncodeToString(d[:]) != v.Digest {
		bad = append(bad, fmt.Sprintf("%s: digest %s is not the digest of its fields", v.ID, v.Digest))
	}
	seen := map[string]bool{}
	var counted uint32
	for _, a := range v.Approvals {
		switch {
		case v.Approvers[a.Operator] == "" || v.Approvers[a.Operator] != a.PublicKey:
			bad = append(bad, fmt.Sprintf("%s: approval by %s with key %s, not in the approver group", v.ID, a.Operator, a.PublicKey))
			continue
		case !audit.VerifyApproval(a.PublicKey, v.Digest, a.Signature):
			bad = append(bad, fmt.Sprintf("%s: %s's signature does not verify over the digest", v.ID, a.Operator))
			continue
		case seen[a.Operator]:
			bad = append(bad, fmt.Sprintf("%s: %s approved twice", v.ID, a.Operator))
			continue
		}
		seen[a.Operator] = true
		if a.Operator != v.Proposer || v.ProposerCounts {
			counted++
		} else if a.Counted {
			bad = append(bad, fmt.Sprintf("%s: the proposer %s's approval counted", v.ID, a.Operator))
		}
	}
	if counted != v.Counted {
		bad = append(bad, fmt.Sprintf("%s: shows %d counted approvals, its valid signatures %d", v.ID, v.Counted, counted))
	}
	if (v.State == audit.CeremonyExecuted || v.State == audit.CeremonyFailed) && counted < v.Quorum {
		bad = append(bad, fmt.Sprintf("%s: %s with %d valid approvals, below its quorum %d", v.ID, v.State, counted, v.Quorum))
	}
	return bad
}

// finalCeremonies is the last final list of ceremonies, by id.
func finalCeremonies(ops []CeremonyOp) (map[string]CeremonyView, bool) {
	out := map[string]CeremonyView{}
	found := false
	for _, op := range ops {
		if op.Final && op.Op == CeremonyList && op.Status == model.OK {
			found = true
			clear(out)
			for _, v := range op.Ceremonies {
				out[v.ID] = v
			}
		}
	}
	return out, found
}

// acked checks that nothing a client was told happened is lost.
func acked(c *Check, ops []CeremonyOp, final map[string]CeremonyView, haveFinal bool, reports map[string]audit.CeremonyReport) {
	for _, op := range ops {
		if op.Op != CeremonyApprove && op.Op != CeremonyCancel || op.Bad != "" {
			continue
		}
		rep, inAudit := reports[op.ID]
		fv, inFinal := final[op.ID]
		switch {
		case op.Op == CeremonyApprove && (op.Status == model.OK || op.Status == model.AlreadyExists):
			// ALREADY_EXISTS means this operator's approval is there.
			if haveFinal && inFinal && !fv.approved(op.Operator) {
				c.fail(Invalid, "%s's approval of %s, answered %s at %s, is not in the final state (%d approvals, %s)",
					op.Operator, op.ID, op.Status, at(op.Return), len(fv.Approvals), fv.State)
			}
			if inAudit && !slices.ContainsFunc(rep.Approvals, func(a audit.VerifiedApproval) bool { return a.Operator == op.Operator }) {
				c.fail(Invalid, "%s's approval of %s, answered %s at %s, is not in the audit chain", op.Operator, op.ID, op.Status, at(op.Return))
			}
			if !inAudit && (!haveFinal || !inFinal) {
				c.fail(Invalid, "%s, approved by %s at %s, is neither in the final state nor in the audit chain", op.ID, op.Operator, at(op.Return))
			}
			if op.Status == model.OK && len(op.Ceremonies) == 1 && op.Ceremonies[0].State == audit.CeremonyExecuted {
				if inAudit && rep.State != audit.CeremonyExecuted {
					c.fail(Invalid, "%s was acknowledged executed at %s; the audit chain says %s", op.ID, at(op.Return), rep.State)
				}
				if haveFinal && inFinal && fv.State != audit.CeremonyExecuted {
					c.fail(Invalid, "%s was acknowledged executed at %s; the final state is %s", op.ID, at(op.Return), fv.State)
				}
			}
		case op.Op == CeremonyCancel && op.Status == model.OK:
			if haveFinal && inFinal && fv.State != audit.CeremonyCancelled {
				c.fail(Invalid, "%s was acknowledged cancelled at %s; the final state is %s", op.ID, at(op.Return), fv.State)
			}
			if inAudit && rep.State != audit.CeremonyCancelled {
				c.fail(Invalid, "%s was acknowledged cancelled at %s; the audit chain says %s", op.ID, at(op.Return), rep.State)
			}
		}
	}
}

// visible checks that every executed ceremony reached every node, and
// that the effect of key-policy ceremonies shows when and only when one
// executed.
func visible(c *Check, ops []CeremonyOp, chains []AuditChain, reports map[string]audit.CeremonyReport, merged []audit.Record) {
	targets := map[string]CeremonyOp{} // ceremony id -> its acknowledged proposal
	for _, op := range ops {
		if op.Op == CeremonyPropose && op.Status == model.OK {
			targets[op.ID] = op
		}
	}
	allowed := map[string]bool{} // keys some executed ceremony allowed deletion of
	for _, r := range merged {
		// Straight from the records, verified or not: a read showing the
		// effect of a ceremony that executed below its quorum is the
		// quorum check's violation, not a change without a ceremony.
		if r.Op == audit.OpCeremonyApprove && r.Ceremony != nil && r.Ceremony.State == audit.CeremonyExecuted && r.Key != "" {
			allowed[r.Key] = true
		}
	}
	var tenants []string
	for _, id := range slices.Sorted(maps.Keys(reports)) {
		rep := reports[id]
		if rep.State != audit.CeremonyExecuted {
			continue
		}
		for _, ch := range chains {
			if ch.Err == nil && len(ch.Records) > 0 && ch.Records[len(ch.Records)-1].Seq < rep.ExecutedSeq {
				c.fail(Invalid, "%s executed at seq %d; %s's audit chain ends at seq %d", id, rep.ExecutedSeq, ch.Node, ch.Records[len(ch.Records)-1].Seq)
			}
		}
		switch rep.Kind {
		case "key-policy":
			if p, ok := targets[id]; ok {
				allowed[p.Target] = true
			}
		case "tenant-create":
			if p, ok := targets[id]; ok {
				tenants = append(tenants, p.Target)
			}
		}
	}
	// Acknowledged executions of key-policy ceremonies, by key: the
	// earliest return.
	ackedAt := map[string]int64{}
	for _, op := range ops {
		if op.Op != CeremonyApprove || op.Status != model.OK || len(op.Ceremonies) != 1 || op.Ceremonies[0].State != audit.CeremonyExecuted {
			continue
		}
		if p, ok := targets[op.ID]; ok && p.Kind == "key-policy" {
			if t, seen := ackedAt[p.Target]; !seen || op.Return < t {
				ackedAt[p.Target] = op.Return
			}
		}
	}
	finalKeys := map[string]map[string]bool{} // key -> node -> deletion allowed, from the final reads
	for _, op := range ops {
		if op.Op == CeremonyTenants && op.Final && op.Status == model.OK {
			for _, t := range tenants {
				if !slices.Contains(op.Tenants, t) {
					c.fail(Invalid, "tenant %q, created by an executed ceremony, is not listed through %s after the run", t, op.Node)
				}
			}
		}
		if op.Op != CeremonyReadKey || op.Status != model.OK {
			continue
		}
		if op.DeletionAllowed && !allowed[op.Target] {
			c.fail(Invalid, "%s allows deletion (read through %s at %s) but no key-policy ceremony for it executed", op.Target, op.Node, at(op.Return))
		}
		if t, ok := ackedAt[op.Target]; ok && op.Call > t && !op.DeletionAllowed {
			c.fail(Invalid, "a read of %s through %s called at %s does not allow deletion; a ceremony allowing it was acknowledged executed at %s",
				op.Target, op.Node, at(op.Call), at(t))
		}
		if op.Final {
			if finalKeys[op.Target] == nil {
				finalKeys[op.Target] = map[string]bool{}
			}
			finalKeys[op.Target][op.Node] = op.DeletionAllowed
		}
	}
	for _, key := range slices.Sorted(maps.Keys(allowed)) {
		for node, del := range finalKeys[key] {
			if !del {
				c.fail(Invalid, "a key-policy ceremony for %s executed, but the final read through %s does not allow deletion", key, node)
			}
		}
	}
}

// mergeChains merges the readable nodes' exports into one chain by seq
// (the audit check holds them to one chain); complete is false when some
// node could not be read.
func mergeChains(chains []AuditChain) ([]audit.Record, bool) {
	bySeq := map[uint64]audit.Record{}
	complete := true
	for _, ch := range chains {
		if ch.Err != nil {
			complete = false
			continue
		}
		for _, r := range ch.Records {
			if _, ok := bySeq[r.Seq]; !ok {
				bySeq[r.Seq] = r
			}
		}
	}
	out := make([]audit.Record, 0, len(bySeq))
	for _, seq := range slices.Sorted(maps.Keys(bySeq)) {
		out = append(out, bySeq[seq])
	}
	return out, complete
}

// ceremonyIDs lists the ceremonies the records hold a proposal of.
func ceremonyIDs(recs []audit.Record) []string {
	var ids []string
	for _, r := range recs {
		if r.Op == audit.OpCeremonyPropose && r.Ceremony != nil && r.Outcome != audit.OutcomeDenied {
			ids = append(ids, r.Ceremony.ID)
		}
	}
	return slices.Compact(ids)
}

func countExecuted(reports map[string]audit.CeremonyReport) int {
	n := 0
	for _, r := range reports {
		if r.State == audit.CeremonyExecuted {
			n++
		}
	}
	return n
}
