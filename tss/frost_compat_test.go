package tss_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// tssEdDSAShare is the part of a share's encoding (MarshalBinary, the form
// that gets sealed) FROST needs: tss-lib's EdDSA LocalPartySaveData. Xi is
// the Shamir share of the signing scalar at x = ShareID; Ks are every
// party's x and BigXj[j] = Xi_j·B their verifying shares. Integers are
// big-endian big.Ints; points are affine (x, y). Test-only: in production
// package tss reads these fields directly and nothing exports Xi.
type tssEdDSAShare struct {
	Threshold int    `json:"threshold"`
	Self      string `json:"self"`
	EdDSA     struct {
		Xi       *big.Int   `json:"Xi"`
		ShareID  *big.Int   `json:"ShareID"`
		Ks       []*big.Int `json:"Ks"`
		BigXj    []tssPoint `json:"BigXj"`
		EDDSAPub tssPoint   `json:"EDDSAPub"`
	} `json:"eddsa"`
}

type tssPoint struct {
	Curve  string      `json:"Curve"`
	Coords [2]*big.Int `json:"Coords"`
}

// encode returns the RFC 8032 encoding of an affine point: y little-endian
// with x's low bit in the top bit.
func (p tssPoint) encode(t *testing.T) []byte {
	t.Helper()
	x, y := p.Coords[0], p.Coords[1]
	if p.Curve != "ed25519" || x == nil || y == nil || y.Sign() < 0 || y.BitLen() > 255 {
		t.Fatalf("not an ed25519 point: %+v", p)
	}
	out := y.FillBytes(make([]byte, 32))
	slices.Reverse(out)
	out[31] |= byte(x.Bit(0) << 7)
	return out
}

// frostFromShare maps one member's tss-lib EdDSA share to its FROST key
// share and the group info a coordinator would build from the same share's
// public data.
func frostFromShare(t *testing.T, sh *tss.Share) (*frost.KeyShare, *frost.GroupInfo) {
	t.Helper()
	if sh.Algorithm() != tss.Ed25519 {
		t.Fatalf("share is %s", sh.Algorithm())
	}
	b, err := sh.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	defer clear(b)
	var f tssEdDSAShare
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	d := f.EdDSA
	if len(d.Ks) != len(d.BigXj) || d.Xi == nil || d.ShareID == nil {
		t.Fatalf("%s: incomplete EdDSA data", f.Self)
	}
	if !bytes.Equal(d.EDDSAPub.encode(t), sh.PublicKey()) {
		t.Fatalf("%s: EDDSAPub encodes to %x, share says %x", f.Self, d.EDDSAPub.encode(t), sh.PublicKey())
	}
	id, err := frost.IdentifierFromBigInt(d.ShareID)
	if err != nil {
		t.Fatalf("%s: ShareID: %v", f.Self, err)
	}
	// tss-lib's Xi is big-endian; FROST's SerializeScalar is little-endian.
	secret := d.Xi.FillBytes(make([]byte, 32))
	slices.Reverse(secret)
	defer clear(secret)
	ks, err := frost.NewKeyShare(id, secret, sh.PublicKey())
	if err != nil {
		t.Fatalf("%s: %v", f.Self, err)
	}
	verifying := map[frost.Identifier][]byte{}
	for j, k := range d.Ks {
		kid, err := frost.IdentifierFromBigInt(k)
		if err != nil {
			t.Fatalf("%s: Ks[%d]: %v", f.Self, j, err)
		}
		verifying[kid] = d.BigXj[j].encode(t)
	}
	if !bytes.Equal(verifying[id], ks.VerifyingShare()) {
		t.Fatalf("%s: Xi·B does not match BigXj for its ShareID", f.Self)
	}
	g, err := frost.NewGroupInfo(f.Threshold+1, sh.PublicKey(), verifying)
	if err != nil {
		t.Fatalf("%s: group info from tss-lib data: %v", f.Self, err)
	}
	return ks, g
}

// frostSignWithShares converts every member's share, checks that they all
// derive the same group info, and signs msg with FROST for the committee.
func frostSignWithShares(t *testing.T, shares map[string]*tss.Share, committee []string, msg []byte) []byte {
	t.Helper()
	keys := map[string]*frost.KeyShare{}
	var group *frost.GroupInfo
	for node, sh := range shares {
		ks, g := frostFromShare(t, sh)
		keys[node] = ks
		if group == nil {
			group = g
		} else if !bytes.Equal(g.PublicKey(), group.PublicKey()) ||
			!slices.Equal(g.Identifiers(), group.Identifiers()) {
			t.Fatalf("%s derives different group info", node)
		}
	}
	nonces := map[string]frost.Nonces{}
	var commitments []frost.Commitment
	for _, node := range committee {
		n, c, err := frost.Commit(keys[node], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces[node] = n
		commitments = append(commitments, c)
	}
	var sigShares []frost.SignatureShare
	for _, node := range committee {
		s, err := frost.Sign(keys[node], nonces[node], msg, commitments)
		if err != nil {
			t.Fatalf("%s: %v", node, err)
		}
		sigShares = append(sigShares, s)
	}
	sig, err := group.Aggregate(msg, commitments, sigShares)
	if err != nil {
		t.Fatalf("committee %v: %v", committee, err)
	}
	return sig
}

func checkFrostSignature(t *testing.T, shares map[string]*tss.Share, committee []string) {
	t.Helper()
	var pub []byte
	for _, sh := range shares {
		pub = sh.PublicKey()
	}
	msg := fmt.Appendf(nil, "FROST over tss-lib shares, committee %v", committee)
	sig := frostSignWithShares(t, shares, committee, msg)
	if !ed25519.Verify(pub, msg, sig) || !tss.Verify(tss.Ed25519, pub, msg, sig) {
		t.Fatalf("committee %v: the FROST signature does not verify under the key", committee)
	}
}

// TestFrostSignsWithTSSLibFixtureShares signs with FROST using the stored
// tss-lib EdDSA shares (testdata/share-v1-ed25519-*.json, TEST-ONLY), for
// every committee of two and for all three members.
func TestFrostSignsWithTSSLibFixtureShares(t *testing.T) {
	shares, _ := storedV1Shares(t)
	for _, c := range append(slices.Clone(committees), members) {
		checkFrostSignature(t, shares, c)
	}
}

// TestFrostSignsWithFreshTSSLibKeygenAndReshare signs with FROST using the
// shares of an in-process tss-lib EdDSA keygen (2-of-3), then of a reshare
// of that key to 3-of-3 at the next epoch, whose party keys differ.
func TestFrostSignsWithFreshTSSLibKeygenAndReshare(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	for _, c := range committees {
		checkFrostSignature(t, f.shares, c)
	}
	next := mustReshare(t, f.engines, reshareReqs(t, f.shares, committees[0], members, 2, nil))
	checkNewShares(t, next, f.shares["node-a"].PublicKey(), members, 2, 1)
	checkFrostSignature(t, next, members)

	// Two of the three cannot sign a 3-of-3 key.
	keys := map[string]*frost.KeyShare{}
	var group *frost.GroupInfo
	for node, sh := range next {
		keys[node], group = frostFromShare(t, sh)
	}
	msg := []byte("too few")
	var cs []frost.Commitment
	for _, node := range committees[0] {
		_, c, err := frost.Commit(keys[node], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cs = append(cs, c)
	}
	if _, err := group.Aggregate(msg, cs, nil); !errors.Is(err, frost.ErrSignerCount) {
		t.Fatalf("two signers for a 3-of-3 key: %v", err)
	}
}
