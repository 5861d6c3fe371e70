package tss_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// Share.Frost gives the same key share and group info as the test's own
// mapping of the encoded share, and a committee signs with them.
func TestShareFrostMatchesEncodedMapping(t *testing.T) {
	groups := map[string]*tss.FrostGroup{}
	shares, _ := storedV1Shares(t)
	for _, id := range members {
		sh := shares[id]
		g, err := sh.Frost()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		ks, gi := frostFromShare(t, sh)
		if g.Key.Identifier() != ks.Identifier() || !bytes.Equal(g.Key.VerifyingShare(), ks.VerifyingShare()) ||
			!bytes.Equal(g.Group.PublicKey(), gi.PublicKey()) || g.Group.MinSigners() != gi.MinSigners() {
			t.Fatalf("%s: Share.Frost differs from the encoded share's mapping", id)
		}
		if g.IDs[id] != ks.Identifier() {
			t.Fatalf("%s: IDs maps it to another identifier", id)
		}
		groups[id] = g
	}
	committee := members[:2]
	nonces := map[string]frost.Nonces{}
	var commits []frost.Commitment
	for _, m := range committee {
		n, c, err := frost.Commit(groups[m].Key, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[m], commits = n, append(commits, c)
	}
	msg := []byte("share.Frost")
	var zs []frost.SignatureShare
	for _, m := range committee {
		z, err := frost.Sign(groups[m].Key, nonces[m], msg, commits)
		if err != nil {
			t.Fatal(err)
		}
		zs = append(zs, z)
	}
	sig, err := groups[members[2]].Group.Aggregate(msg, commits, zs)
	if err != nil {
		t.Fatal(err)
	}
	if !ed25519.Verify(groups[members[0]].Group.PublicKey(), msg, sig) {
		t.Fatal("signature does not verify")
	}
}
