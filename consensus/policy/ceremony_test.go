package policy_test

import (
	"testing"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

// A policy document that takes a certificate serial off the deny-list
// needs deny-removal's quorum, as one that takes a principal off does:
// otherwise a policy-change quorum smaller than deny-removal's could
// readmit a leaked certificate.
func TestDenyRemovalQuorumCoversSerials(t *testing.T) {
	old := &policy.Policy{Operators: map[string]policy.Operator{"a": {}, "b": {}, "c": {}}, DeniedSerials: []string{"ab", "cd"},
		Ceremonies: &policy.CeremonyRules{DefaultQuorum: 1, Kinds: map[policy.CeremonyKind]policy.KindRule{policy.KindDenyRemoval: {Quorum: 3}}}}
	keep := old.Clone()
	keep.DeniedSerials = append(keep.DeniedSerials, "ef")
	if q := policy.ImpliedQuorum(old, keep); q >= 3 {
		t.Fatalf("adding a serial needs quorum %d; want less than deny-removal's 3", q)
	}
	drop := old.Clone()
	drop.DeniedSerials = []string{"cd"}
	if q := policy.ImpliedQuorum(old, drop); q != 3 {
		t.Fatalf("taking serial ab off the deny-list needs quorum %d; want deny-removal's 3", q)
	}
}
