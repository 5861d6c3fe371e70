package frost_test

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"testing"

	"filippo.io/edwards25519"
	"github.com/keyquorum/keyquorum/tss/frost"
)

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Encodings that RFC 9591 Section 6.1 decoding must refuse.
var (
	// L, the group order, little-endian: the smallest non-canonical scalar.
	orderL = mustHex("edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010")
	// y = 1 with the sign bit set: a non-canonical encoding of the identity.
	identityNegZero = mustHex("0100000000000000000000000000000000000000000000000000000000000080")
	// y = p + 1: another non-canonical encoding of the identity.
	identityOverP = mustHex("eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	identityEnc   = mustHex("0100000000000000000000000000000000000000000000000000000000000000")
	// (0, -1), the point of order 2.
	order2Enc = mustHex("ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
	// (sqrt(-1), 0), a point of order 4.
	order4Enc = mustHex("0000000000000000000000000000000000000000000000000000000000000000")
)

// mixedOrderEnc returns B + (0, -1): on the curve, canonical, not the
// identity, but with a component of order 2.
func mixedOrderEnc(t testing.TB) []byte {
	t.Helper()
	t2, err := new(edwards25519.Point).SetBytes(order2Enc)
	if err != nil {
		t.Fatal(err)
	}
	return new(edwards25519.Point).Add(edwards25519.NewGeneratorPoint(), t2).Bytes()
}

// offCurveEnc returns a canonical-looking y for which no x exists.
func offCurveEnc(t testing.TB) []byte {
	t.Helper()
	for y := byte(2); y < 255; y++ {
		b := make([]byte, 32)
		b[0] = y
		if _, err := new(edwards25519.Point).SetBytes(b); err != nil {
			return b
		}
	}
	t.Fatal("no off-curve y found")
	return nil
}

func TestCommitmentDecodingRefusesBadElements(t *testing.T) {
	d := deal(t, 2, 3, false)
	_, good := session(t, d, []int{0})
	id := good[0].Identifier()
	for _, tc := range []struct {
		name, want string
		enc        []byte
	}{
		{"identity", "identity", identityEnc},
		{"identity with x sign bit", "non-canonical", identityNegZero},
		{"y above p", "non-canonical", identityOverP},
		{"order 2", "prime-order subgroup", order2Enc},
		{"order 4", "prime-order subgroup", order4Enc},
		{"mixed order", "prime-order subgroup", mixedOrderEnc(t)},
		{"off curve", "not a point", offCurveEnc(t)},
		{"short", "bytes", good[0].Hiding()[:31]},
	} {
		for _, slot := range []string{"hiding", "binding"} {
			h, b := good[0].Hiding(), good[0].Binding()
			if slot == "hiding" {
				h = tc.enc
			} else {
				b = tc.enc
			}
			_, err := frost.NewCommitment(id, h, b)
			if !errors.Is(err, frost.ErrInvalidElement) || !strings.Contains(err.Error(), tc.want) ||
				!strings.Contains(err.Error(), slot) {
				t.Errorf("%s as %s commitment: err = %v, want ErrInvalidElement mentioning %q", tc.name, slot, err, tc.want)
			}
		}
	}
	// The group key and verifying shares go through the same decoding.
	if _, err := frost.NewKeyShare(id, d.Secrets[0], mixedOrderEnc(t)); !errors.Is(err, frost.ErrInvalidElement) {
		t.Errorf("NewKeyShare with a mixed-order group key: %v", err)
	}
	v := map[frost.Identifier][]byte{id: identityEnc}
	if _, err := frost.NewGroupInfo(1, d.Public, v); !errors.Is(err, frost.ErrInvalidElement) {
		t.Errorf("NewGroupInfo with an identity verifying share: %v", err)
	}
}

func TestScalarDecodingRefusesNonCanonical(t *testing.T) {
	id := frostID(t, 1)
	high := bytes.Repeat([]byte{0xff}, 32)
	for name, z := range map[string][]byte{"L": orderL, "all ones": high, "short": orderL[:31]} {
		if _, err := frost.NewSignatureShare(id, z); !errors.Is(err, frost.ErrInvalidScalar) {
			t.Errorf("signature share %s: %v", name, err)
		}
		if _, err := frost.ParseIdentifier(z); !errors.Is(err, frost.ErrInvalidIdentifier) {
			t.Errorf("identifier %s: %v", name, err)
		}
		if _, err := frost.NewKeyShare(id, z, mustHex("15d21ccd7ee42959562fc8aa63224c8851fb3ec85a3faf66040d380fb9738673")); !errors.Is(err, frost.ErrInvalidKeyShare) {
			t.Errorf("key share %s: %v", name, err)
		}
	}
	if _, err := frost.ParseIdentifier(make([]byte, 32)); !errors.Is(err, frost.ErrInvalidIdentifier) {
		t.Errorf("zero identifier: %v", err)
	}
	if _, err := frost.NewIdentifier(0); !errors.Is(err, frost.ErrInvalidIdentifier) {
		t.Errorf("NewIdentifier(0): %v", err)
	}
	l := new(big.Int).SetBytes(reverse(orderL))
	for _, x := range []*big.Int{nil, big.NewInt(0), big.NewInt(-1), l, new(big.Int).Lsh(big.NewInt(1), 256)} {
		if _, err := frost.IdentifierFromBigInt(x); !errors.Is(err, frost.ErrInvalidIdentifier) {
			t.Errorf("IdentifierFromBigInt(%v): %v", x, err)
		}
	}
	lm1 := new(big.Int).Sub(l, big.NewInt(1))
	id2, err := frost.IdentifierFromBigInt(lm1)
	if err != nil || id2.BigInt().Cmp(lm1) != 0 {
		t.Errorf("IdentifierFromBigInt(L-1) = %v, %v", id2, err)
	}
	if one := frostID(t, 1); one.BigInt().Int64() != 1 || one.String() != "1" {
		t.Errorf("identifier 1 prints as %s", one)
	}
}

func reverse(b []byte) []byte {
	out := make([]byte, len(b))
	for i := range b {
		out[i] = b[len(b)-1-i]
	}
	return out
}

func frostID(t testing.TB, n uint64) frost.Identifier {
	t.Helper()
	id, err := frost.NewIdentifier(n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestCommitmentListRefusals covers the list checks of Sign and Aggregate:
// duplicates, the signer missing, a substituted commitment, a non-member,
// too few signers, a missing or unexpected share, the zero values.
func TestCommitmentListRefusals(t *testing.T) {
	d := deal(t, 2, 3, false)
	msg := []byte("refusals")
	sign := func(i int, n frost.Nonces, list []frost.Commitment) error {
		_, err := frost.Sign(d.Shares[i], n, msg, list)
		return err
	}

	nonces, cs := session(t, d, []int{0, 1})
	if err := sign(0, nonces[0], []frost.Commitment{cs[0], cs[1], cs[1]}); !errors.Is(err, frost.ErrDuplicateIdentifier) {
		t.Errorf("duplicate commitment: %v", err)
	}
	nonces, cs = session(t, d, []int{0, 1, 2})
	if err := sign(0, nonces[0], []frost.Commitment{cs[1], cs[2]}); !errors.Is(err, frost.ErrUnknownSigner) {
		t.Errorf("list without the signer: %v", err)
	}
	// Signer 0's slot carries a different commitment from signer 0.
	_, other := session(t, d, []int{0})
	if err := sign(1, nonces[1], []frost.Commitment{other[0], cs[1]}); err != nil {
		t.Errorf("signer 1 with signer 0's other commitment: %v", err)
	}
	n0, _ := session(t, d, []int{0})
	if err := sign(0, n0[0], []frost.Commitment{other[0], cs[1]}); !errors.Is(err, frost.ErrCommitmentMismatch) {
		t.Errorf("list carrying another commitment for the signer: %v", err)
	}
	n0, _ = session(t, d, []int{0})
	if err := sign(1, n0[0], cs[:2]); !errors.Is(err, frost.ErrCommitmentMismatch) {
		t.Errorf("nonces of another signer: %v", err)
	}
	n0, _ = session(t, d, []int{0})
	if err := sign(0, n0[0], append([]frost.Commitment{{}}, cs...)); err == nil {
		t.Error("zero Commitment in the list accepted")
	}
	n0, c0 := session(t, d, []int{0})
	long := make([]frost.Commitment, frost.MaxSigners+1)
	for i := range long {
		long[i] = c0[0]
	}
	if err := sign(0, n0[0], long); !errors.Is(err, frost.ErrSignerCount) {
		t.Errorf("list over MaxSigners: %v", err)
	}

	// Aggregate.
	nonces, cs = session(t, d, []int{0, 1})
	shares := signShares(t, d, []int{0, 1}, nonces, msg, cs)
	for name, tc := range map[string]struct {
		cs     []frost.Commitment
		shares []frost.SignatureShare
		want   error
	}{
		"too few signers":          {cs[:1], shares[:1], frost.ErrSignerCount},
		"duplicate commitment":     {[]frost.Commitment{cs[0], cs[0], cs[1]}, shares, frost.ErrDuplicateIdentifier},
		"duplicate share":          {cs, []frost.SignatureShare{shares[0], shares[0], shares[1]}, frost.ErrDuplicateIdentifier},
		"missing share":            {cs, shares[:1], frost.ErrMissingShare},
		"share without commitment": {cs, append(shares[:2:2], mustShare(t, 3)), frost.ErrUnknownSigner},
		"zero share":               {cs, append(shares[:2:2], frost.SignatureShare{}), frost.ErrUnknownSigner},
		"non-member":               {append(cs[:2:2], foreignCommitment(t)), shares, frost.ErrUnknownSigner},
	} {
		if _, err := d.Group.Aggregate(msg, tc.cs, tc.shares); !errors.Is(err, tc.want) {
			t.Errorf("Aggregate, %s: %v, want %v", name, err, tc.want)
		}
	}
	var zero frost.GroupInfo
	if _, err := zero.Aggregate(msg, cs, shares); !errors.Is(err, frost.ErrInvalidGroup) {
		t.Errorf("Aggregate on a zero GroupInfo: %v", err)
	}
	if err := zero.VerifyShare(shares[0], msg, cs); !errors.Is(err, frost.ErrInvalidGroup) {
		t.Errorf("VerifyShare on a zero GroupInfo: %v", err)
	}
	if sig, err := d.Group.Aggregate(msg, cs, shares); err != nil || len(sig) != frost.SignatureSize {
		t.Fatalf("the valid set: %v", err)
	}
}

func mustShare(t testing.TB, n uint64) frost.SignatureShare {
	t.Helper()
	s, err := frost.NewSignatureShare(frostID(t, n), make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// foreignCommitment is a valid commitment from identifier 9, not a member.
func foreignCommitment(t testing.TB) frost.Commitment {
	t.Helper()
	d, err := frostDeal(9)
	if err != nil {
		t.Fatal(err)
	}
	_, c, err := frost.Commit(d, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func frostDeal(n uint64) (*frost.KeyShare, error) {
	id, _ := frost.NewIdentifier(n)
	s := edwards25519.NewScalar()
	var b [64]byte
	_, _ = rand.Read(b[:])
	s.SetUniformBytes(b[:])
	return frost.NewKeyShare(id, s.Bytes(), new(edwards25519.Point).ScalarBaseMult(s).Bytes())
}

// TestNoncesAreSingleUse: a second Sign with the same nonces, or with a
// copy, is refused; a failed Sign consumes them too; under concurrent
// attempts exactly one succeeds; Discard and the zero value are refused.
func TestNoncesAreSingleUse(t *testing.T) {
	d := deal(t, 2, 3, false)
	msg := []byte("once")
	nonces, cs := session(t, d, []int{0, 1})
	copyOf := nonces[0]
	if _, err := frost.Sign(d.Shares[0], nonces[0], msg, cs); err != nil {
		t.Fatal(err)
	}
	if !nonces[0].Used() || !copyOf.Used() {
		t.Fatal("nonces not marked used")
	}
	for name, n := range map[string]frost.Nonces{"same": nonces[0], "copy": copyOf, "zero": {}} {
		if _, err := frost.Sign(d.Shares[0], n, []byte("another message"), cs); !errors.Is(err, frost.ErrNoncesUsed) {
			t.Errorf("%s nonces: %v, want ErrNoncesUsed", name, err)
		}
	}

	// A refused list still consumes the nonces.
	nonces, cs = session(t, d, []int{0, 1})
	if _, err := frost.Sign(d.Shares[0], nonces[0], msg, cs[1:]); err == nil {
		t.Fatal("list without the signer accepted")
	}
	if _, err := frost.Sign(d.Shares[0], nonces[0], msg, cs); !errors.Is(err, frost.ErrNoncesUsed) {
		t.Fatalf("nonces after a refused attempt: %v", err)
	}

	nonces, cs = session(t, d, []int{0, 1})
	nonces[0].Discard()
	if _, err := frost.Sign(d.Shares[0], nonces[0], msg, cs); !errors.Is(err, frost.ErrNoncesUsed) {
		t.Fatalf("discarded nonces: %v", err)
	}

	nonces, cs = session(t, d, []int{0, 1})
	var wg sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := frost.Sign(d.Shares[0], nonces[0], fmt.Appendf(nil, "racing %d", i), cs)
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				ok++
			} else if !errors.Is(err, frost.ErrNoncesUsed) {
				t.Errorf("racing Sign: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 {
		t.Fatalf("%d concurrent Signs succeeded with one nonce pair, want 1", ok)
	}
}

func TestWipedShareIsRefused(t *testing.T) {
	d := deal(t, 2, 3, false)
	nonces, cs := session(t, d, []int{0, 1})
	d.Shares[0].Wipe()
	if _, _, err := frost.Commit(d.Shares[0], rand.Reader); !errors.Is(err, frost.ErrInvalidKeyShare) {
		t.Errorf("Commit with a wiped share: %v", err)
	}
	if _, err := frost.Sign(d.Shares[0], nonces[0], []byte("m"), cs); !errors.Is(err, frost.ErrInvalidKeyShare) {
		t.Errorf("Sign with a wiped share: %v", err)
	}
}

// TestSecretsAreRedacted prints key shares and nonces with every common
// verb and checks that no secret (nor its hex) appears, even for a
// dereferenced KeyShare, which fmt prints field by field.
func TestSecretsAreRedacted(t *testing.T) {
	d := deal(t, 2, 3, false)
	nonces, _ := session(t, d, []int{0})
	secret := d.Secrets[0]
	forbidden := []string{hex.EncodeToString(secret), fmt.Sprintf("%X", secret), fmt.Sprint(secret),
		new(big.Int).SetBytes(reverse(secret)).String()}
	for _, v := range []any{d.Shares[0], *d.Shares[0], nonces[0], &nonces[0], struct{ S *frost.KeyShare }{d.Shares[0]}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%q", "%d"} {
			out := fmt.Sprintf(verb, v)
			for _, f := range forbidden {
				if strings.Contains(out, f) {
					t.Fatalf("%s of %T prints the secret: %s", verb, v, out)
				}
			}
			if _, deref := v.(frost.KeyShare); !deref && !strings.Contains(out, "REDACTED") {
				t.Errorf("%s of %T prints %q", verb, v, out)
			}
		}
	}
	// An error about a bad secret does not quote it either.
	_, err := frost.NewKeyShare(frostID(t, 1), orderL, d.Public)
	if err == nil || strings.Contains(err.Error(), hex.EncodeToString(orderL)) {
		t.Fatalf("error quotes the secret: %v", err)
	}
}

// FuzzParse feeds arbitrary bytes to every decoder of external input: each
// must refuse them or round-trip them exactly, and never panic.
func FuzzParse(f *testing.F) {
	d := deal(f, 2, 3, false)
	_, cs := session(f, d, []int{0})
	enc, _ := cs[0].MarshalBinary()
	f.Add(enc)
	f.Add(append(frostID(f, 1).Bytes(), orderL...))
	f.Add(append(append(frostID(f, 2).Bytes(), order2Enc...), identityOverP...))
	f.Fuzz(func(t *testing.T, b []byte) {
		if c, err := frost.ParseCommitment(b); err == nil {
			if out, _ := c.MarshalBinary(); !bytes.Equal(out, b) {
				t.Fatalf("commitment %x re-encodes as %x", b, out)
			}
		}
		if s, err := frost.ParseSignatureShare(b); err == nil {
			if out, _ := s.MarshalBinary(); !bytes.Equal(out, b) {
				t.Fatalf("share %x re-encodes as %x", b, out)
			}
		}
		if id, err := frost.ParseIdentifier(b); err == nil && !bytes.Equal(id.Bytes(), b) {
			t.Fatalf("identifier %x re-encodes as %x", b, id.Bytes())
		}
	})
}
