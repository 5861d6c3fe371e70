package fsm

import "testing"

// A policy document that takes a certificate serial off the deny-list
// needs deny-removal's quorum, as one that takes a principal off does:
// otherwise a policy-change quorum smaller than deny-removal's could
// readmit a leaked certificate.
func TestDenyRemovalQuorumCoversSerials(t *testing.T) {
	old := &Policy{Operators: map[string]Operator{"a": {}, "b": {}, "c": {}}, DeniedSerials: []string{"ab", "cd"},
		Ceremonies: &CeremonyRules{DefaultQuorum: 1, Kinds: map[CeremonyKind]KindRule{KindDenyRemoval: {Quorum: 3}}}}
	keep := old.clone()
	keep.DeniedSerials = append(keep.DeniedSerials, "ef")
	if q := impliedQuorum(old, keep); q >= 3 {
		t.Fatalf("adding a serial needs quorum %d; want less than deny-removal's 3", q)
	}
	drop := old.clone()
	drop.DeniedSerials = []string{"cd"}
	if q := impliedQuorum(old, drop); q != 3 {
		t.Fatalf("taking serial ab off the deny-list needs quorum %d; want deny-removal's 3", q)
	}
}
