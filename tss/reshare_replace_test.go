package tss_test

import (
	"testing"

	"github.com/keyquorum/keyquorum/tss"
)

// TestReshareAroundDeadHolder replaces a dead holder: node-c of the 2-of-3
// key runs nothing, the two live holders deal to themselves and node-d,
// and the new 2-of-3 key {a, b, d} signs under the unchanged public key,
// with node-d in the committee too. (The ECDSA path, with pre-parameters,
// is TestECDSAReshareSameMembersThenSign; the committees differ here only.)
func TestReshareAroundDeadHolder(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	pub := f.shares["node-a"].PublicKey()
	_, engines := reshareCluster(t, testConfig(), "node-a", "node-b", "node-d")
	newParties := []string{"node-a", "node-b", "node-d"}
	reqs := reshareReqs(t, f.shares, []string{"node-a", "node-b"}, newParties, 1, nil)
	if _, ok := reqs["node-c"]; ok {
		t.Fatal("the dead holder is part of the session")
	}
	newShares := mustReshare(t, engines, reqs)
	checkNewShares(t, newShares, pub, newParties, 1, 1)
	for _, committee := range [][]string{{"node-a", "node-d"}, {"node-b", "node-d"}} {
		signEd25519(t, engines, newShares, committee, pub)
	}
}
