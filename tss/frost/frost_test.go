package frost_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/tss/frost"
	"github.com/keyquorum/keyquorum/tss/frost/frosttest"
)

// deal returns a random minSigners-of-n key; big uses random identifiers
// below the group order, as tss-lib's party keys are, instead of 1..n.
func deal(t testing.TB, minSigners, n int, big bool) *frosttest.Dealt {
	t.Helper()
	ids := frosttest.SmallIDs(n)
	if big {
		ids = randomIDs(t, n)
	}
	d, err := frosttest.Deal(rand.Reader, minSigners, ids)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func randomIDs(t testing.TB, n int) []frost.Identifier {
	t.Helper()
	order, _ := new(big.Int).SetString("7237005577332262213973186563042994240857116359379907606001950938285454250989", 10)
	ids := make([]frost.Identifier, n)
	for i := range ids {
		x, err := rand.Int(rand.Reader, new(big.Int).Sub(order, big.NewInt(1)))
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = frost.IdentifierFromBigInt(x.Add(x, big.NewInt(1))); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

// session runs round one for the signers (indexes into d.Shares).
func session(t testing.TB, d *frosttest.Dealt, signers []int) ([]frost.Nonces, []frost.Commitment) {
	t.Helper()
	var nonces []frost.Nonces
	var commitments []frost.Commitment
	for _, i := range signers {
		n, c, err := frost.Commit(d.Shares[i], rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		nonces = append(nonces, n)
		commitments = append(commitments, c)
	}
	return nonces, commitments
}

// signAll runs both rounds for the signers and aggregates.
func signAll(t testing.TB, d *frosttest.Dealt, signers []int, msg []byte) ([]byte, error) {
	t.Helper()
	nonces, commitments := session(t, d, signers)
	return d.Group.Aggregate(msg, commitments, signShares(t, d, signers, nonces, msg, commitments))
}

// signShares runs round two for the signers, with their nonces in the
// same order.
func signShares(t testing.TB, d *frosttest.Dealt, signers []int, nonces []frost.Nonces, msg []byte, commitments []frost.Commitment) []frost.SignatureShare {
	t.Helper()
	var shares []frost.SignatureShare
	for k, i := range signers {
		s, err := frost.Sign(d.Shares[i], nonces[k], msg, commitments)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
	}
	return shares
}

// subsets returns every subset of {0..n-1} with at least k members.
func subsets(n, k int) [][]int {
	var out [][]int
	for mask := 1; mask < 1<<n; mask++ {
		var s []int
		for i := range n {
			if mask&(1<<i) != 0 {
				s = append(s, i)
			}
		}
		if len(s) >= k {
			out = append(out, s)
		}
	}
	return out
}

func TestDealerReproducesRFCShares(t *testing.T) {
	b, err := os.ReadFile("testdata/rfc9591-ed25519-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v struct {
		Secret string            `json:"group_secret_key"`
		Public string            `json:"group_public_key"`
		Coeffs []string          `json:"share_polynomial_coefficients"`
		Shares map[string]string `json:"participant_shares"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	secret, _ := hex.DecodeString(v.Secret)
	var coeffs [][]byte
	for _, c := range v.Coeffs {
		cb, _ := hex.DecodeString(c)
		coeffs = append(coeffs, cb)
	}
	d, err := frosttest.Split(secret, coeffs, frosttest.SmallIDs(3))
	if err != nil {
		t.Fatal(err)
	}
	if hex.EncodeToString(d.Public) != v.Public {
		t.Fatalf("public key %x, want %s", d.Public, v.Public)
	}
	for i, s := range d.Secrets {
		if want := v.Shares[fmt.Sprint(i+1)]; hex.EncodeToString(s) != want {
			t.Errorf("share %d = %x, want %s", i+1, s, want)
		}
	}
}

// TestSignEverySubset signs with every signer set of at least MinSigners
// members, for 2-of-3 and 3-of-5, with small and with tss-lib-like large
// identifiers; crypto/ed25519 must accept every signature.
func TestSignEverySubset(t *testing.T) {
	for _, tc := range []struct{ min, n int }{{2, 3}, {3, 5}} {
		for _, bigIDs := range []bool{false, true} {
			t.Run(fmt.Sprintf("%dof%d/bigIDs=%t", tc.min, tc.n, bigIDs), func(t *testing.T) {
				d := deal(t, tc.min, tc.n, bigIDs)
				for _, signers := range subsets(tc.n, tc.min) {
					msg := fmt.Appendf(nil, "keyquorum test message for signers %v", signers)
					sig, err := signAll(t, d, signers, msg)
					if err != nil {
						t.Fatalf("signers %v: %v", signers, err)
					}
					if len(sig) != frost.SignatureSize || !ed25519.Verify(d.Public, msg, sig) {
						t.Fatalf("signers %v: crypto/ed25519 rejects the signature", signers)
					}
				}
			})
		}
	}
}

// TestSignatureIsNotDeterministic: two signatures of one message by one
// signer set differ in R, because the nonces are fresh.
func TestSignatureIsNotDeterministic(t *testing.T) {
	d := deal(t, 2, 3, false)
	msg := []byte("same message")
	a, err := signAll(t, d, []int{0, 1}, msg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := signAll(t, d, []int{0, 1}, msg)
	if err != nil {
		t.Fatal(err)
	}
	if slices.Equal(a[:32], b[:32]) {
		t.Fatal("two signatures share R")
	}
}

// TestAggregateNamesCulprits corrupts shares and checks that Aggregate
// refuses the signature and names exactly the signers who sent bad shares.
func TestAggregateNamesCulprits(t *testing.T) {
	d := deal(t, 3, 5, true)
	signers := []int{0, 2, 3, 4}
	msg := []byte("blame")
	for _, bad := range [][]int{{2}, {0, 4}, {0, 2, 3, 4}} {
		nonces, commitments := session(t, d, signers)
		var shares []frost.SignatureShare
		var want []frost.Identifier
		for k, i := range signers {
			s, err := frost.Sign(d.Shares[i], nonces[k], msg, commitments)
			if err != nil {
				t.Fatal(err)
			}
			if slices.Contains(bad, i) {
				s = tamper(t, s)
				want = append(want, s.Identifier())
				err := d.Group.VerifyShare(s, msg, commitments)
				var ie *frost.InvalidShareError
				if !errors.As(err, &ie) || len(ie.Culprits) != 1 || ie.Culprits[0] != s.Identifier() {
					t.Fatalf("VerifyShare of a tampered share: %v", err)
				}
			} else if err := d.Group.VerifyShare(s, msg, commitments); err != nil {
				t.Fatalf("VerifyShare of an honest share: %v", err)
			}
			shares = append(shares, s)
		}
		slices.SortFunc(want, frost.Identifier.Compare)
		sig, err := d.Group.Aggregate(msg, commitments, shares)
		var ie *frost.InvalidShareError
		if sig != nil || !errors.As(err, &ie) || !errors.Is(err, frost.ErrInvalidShare) {
			t.Fatalf("bad %v: Aggregate = %x, %v", bad, sig, err)
		}
		if !slices.Equal(ie.Culprits, want) {
			t.Fatalf("bad %v: culprits %v, want %v", bad, ie.Culprits, want)
		}
	}
}

// tamper returns s + 1, a well-formed but wrong share.
func tamper(t testing.TB, s frost.SignatureShare) frost.SignatureShare {
	t.Helper()
	z := s.Bytes()
	z[0]++ // shares are uniform; a carry out of byte 0 is vanishingly rare
	out, err := frost.NewSignatureShare(s.Identifier(), z)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNewGroupInfoRefusesInconsistentShares: verifying shares that do not
// interpolate to the group key, or that do not lie on one polynomial, are
// refused when the group info is built, not later as an unattributable
// failed signature.
func TestNewGroupInfoRefusesInconsistentShares(t *testing.T) {
	d := deal(t, 2, 3, false)
	other := deal(t, 2, 3, false)
	ids := frosttest.SmallIDs(3)
	verifying := map[frost.Identifier][]byte{}
	for _, id := range ids {
		verifying[id], _ = d.Group.VerifyingShare(id)
	}
	if _, err := frost.NewGroupInfo(2, other.Public, verifying); !errors.Is(err, frost.ErrInvalidGroup) {
		t.Fatalf("wrong group key: %v", err)
	}
	verifying[ids[2]], _ = other.Group.VerifyingShare(ids[2])
	if _, err := frost.NewGroupInfo(2, d.Public, verifying); !errors.Is(err, frost.ErrInvalidGroup) {
		t.Fatalf("verifying share off the polynomial: %v", err)
	}
	if _, err := frost.NewGroupInfo(4, d.Public, verifying); !errors.Is(err, frost.ErrInvalidGroup) {
		t.Fatalf("min signers above n: %v", err)
	}
}

// GroupCommitment recomputes the R of a signature from the commitments
// that made it, and no other list gives it: one commitment left out or
// swapped for another changes R.
func TestGroupCommitmentIsTheSignaturesR(t *testing.T) {
	d := deal(t, 2, 3, false)
	msg := []byte("group commitment")
	nonces, commitments := session(t, d, []int{0, 2})
	shares := signShares(t, d, []int{0, 2}, nonces, msg, commitments)
	sig, err := d.Group.Aggregate(msg, commitments, shares)
	if err != nil {
		t.Fatal(err)
	}
	r, err := frost.GroupCommitment(d.Group.PublicKey(), msg, commitments)
	if err != nil || !bytes.Equal(r, sig[:32]) {
		t.Fatalf("GroupCommitment = %x, %v; signature's R %x", r, err, sig[:32])
	}
	if r, err := frost.GroupCommitment(d.Group.PublicKey(), []byte("another message"), commitments); err != nil || bytes.Equal(r, sig[:32]) {
		t.Fatalf("another message gives R %x, %v", r, err)
	}
	_, other := session(t, d, []int{0, 2})
	if r, err := frost.GroupCommitment(d.Group.PublicKey(), msg, []frost.Commitment{commitments[0], other[1]}); err != nil || bytes.Equal(r, sig[:32]) {
		t.Fatalf("a swapped commitment gives R %x, %v", r, err)
	}
	if _, err := frost.GroupCommitment(make([]byte, 32), msg, commitments); err == nil {
		t.Fatal("a group key that is not a point was accepted")
	}
}
