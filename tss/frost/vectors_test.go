package frost

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"filippo.io/edwards25519"
)

// rfcVectors is testdata/rfc9591-ed25519-sha512.json: RFC 9591 Appendix
// E.1, keyed by participant identifier.
type rfcVectors struct {
	MinParticipants   int                 `json:"min_participants"`
	GroupSecretKey    string              `json:"group_secret_key"`
	GroupPublicKey    string              `json:"group_public_key"`
	Message           string              `json:"message"`
	Coefficients      []string            `json:"share_polynomial_coefficients"`
	ParticipantShares map[string]string   `json:"participant_shares"`
	ParticipantList   []uint64            `json:"participant_list"`
	RoundOne          map[string]roundOne `json:"round_one"`
	RoundTwo          map[string]string   `json:"round_two"`
	Signature         string              `json:"signature"`
}

type roundOne struct {
	HidingNonceRandomness  string `json:"hiding_nonce_randomness"`
	BindingNonceRandomness string `json:"binding_nonce_randomness"`
	HidingNonce            string `json:"hiding_nonce"`
	BindingNonce           string `json:"binding_nonce"`
	HidingNonceCommitment  string `json:"hiding_nonce_commitment"`
	BindingNonceCommitment string `json:"binding_nonce_commitment"`
	BindingFactorInput     string `json:"binding_factor_input"`
	BindingFactor          string `json:"binding_factor"`
}

func loadRFCVectors(t testing.TB) *rfcVectors {
	t.Helper()
	b, err := os.ReadFile("testdata/rfc9591-ed25519-sha512.json")
	if err != nil {
		t.Fatal(err)
	}
	var v rfcVectors
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	return &v
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func smallID(t testing.TB, n uint64) Identifier {
	t.Helper()
	id, err := NewIdentifier(n)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// TestRFC9591Vectors reproduces every intermediate value RFC 9591 Appendix
// E.1 lists for FROST(Ed25519, SHA-512): nonces from the given randomness,
// commitments, binding factor inputs and factors, signature shares and the
// signature, which crypto/ed25519 must also accept.
func TestRFC9591Vectors(t *testing.T) {
	v := loadRFCVectors(t)
	pub := unhex(t, v.GroupPublicKey)
	msg := unhex(t, v.Message)

	secret, err := deserializeScalar(unhex(t, v.GroupSecretKey))
	if err != nil {
		t.Fatal(err)
	}
	if got := new(edwards25519.Point).ScalarBaseMult(secret).Bytes(); !bytes.Equal(got, pub) {
		t.Fatalf("group public key = %x, want %x", got, pub)
	}

	shares := map[uint64]*KeyShare{}
	verifying := map[Identifier][]byte{}
	for k, hexShare := range v.ParticipantShares {
		n, err := strconv.ParseUint(k, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		ks, err := NewKeyShare(smallID(t, n), unhex(t, hexShare), pub)
		if err != nil {
			t.Fatalf("participant %d: %v", n, err)
		}
		want, err := VerifyingShare(unhex(t, hexShare))
		if err != nil || !bytes.Equal(ks.VerifyingShare(), want) {
			t.Fatalf("participant %d: verifying share mismatch (%v)", n, err)
		}
		shares[n] = ks
		verifying[ks.Identifier()] = ks.VerifyingShare()
	}
	group, err := NewGroupInfo(v.MinParticipants, pub, verifying)
	if err != nil {
		t.Fatal(err)
	}

	// Round one: nonce_generate from the listed randomness, hiding first.
	nonces := map[uint64]Nonces{}
	var commitments []Commitment
	for _, n := range v.ParticipantList {
		r1 := v.RoundOne[strconv.FormatUint(n, 10)]
		rand := bytes.NewReader(append(unhex(t, r1.HidingNonceRandomness), unhex(t, r1.BindingNonceRandomness)...))
		non, com, err := Commit(shares[n], rand)
		if err != nil {
			t.Fatal(err)
		}
		if got := non.st.hiding.Bytes(); !bytes.Equal(got, unhex(t, r1.HidingNonce)) {
			t.Errorf("P%d hiding_nonce = %x, want %s", n, got, r1.HidingNonce)
		}
		if got := non.st.binding.Bytes(); !bytes.Equal(got, unhex(t, r1.BindingNonce)) {
			t.Errorf("P%d binding_nonce = %x, want %s", n, got, r1.BindingNonce)
		}
		if !bytes.Equal(com.Hiding(), unhex(t, r1.HidingNonceCommitment)) {
			t.Errorf("P%d hiding_nonce_commitment = %x, want %s", n, com.Hiding(), r1.HidingNonceCommitment)
		}
		if !bytes.Equal(com.Binding(), unhex(t, r1.BindingNonceCommitment)) {
			t.Errorf("P%d binding_nonce_commitment = %x, want %s", n, com.Binding(), r1.BindingNonceCommitment)
		}
		// The same commitment, decoded as a coordinator would.
		enc, _ := com.MarshalBinary()
		parsed, err := ParseCommitment(enc)
		if err != nil || !parsed.Equal(com) {
			t.Fatalf("P%d commitment does not round-trip: %v", n, err)
		}
		nonces[n] = non
		commitments = append(commitments, parsed)
	}

	// Binding factors over the sorted list (Section 4.4).
	inputs := bindingFactorInputs(pub, commitments, msg)
	rho := computeBindingFactors(pub, commitments, msg)
	for i, n := range v.ParticipantList {
		r1 := v.RoundOne[strconv.FormatUint(n, 10)]
		if !bytes.Equal(inputs[i], unhex(t, r1.BindingFactorInput)) {
			t.Errorf("P%d binding_factor_input = %x, want %s", n, inputs[i], r1.BindingFactorInput)
		}
		if got := rho[i].Bytes(); !bytes.Equal(got, unhex(t, r1.BindingFactor)) {
			t.Errorf("P%d binding_factor = %x, want %s", n, got, r1.BindingFactor)
		}
	}

	// Round two, given the list in reverse order: Sign sorts it.
	rev := []Commitment{commitments[1], commitments[0]}
	var sigShares []SignatureShare
	for _, n := range v.ParticipantList {
		ss, err := Sign(shares[n], nonces[n], msg, rev)
		if err != nil {
			t.Fatalf("P%d sign: %v", n, err)
		}
		want := v.RoundTwo[strconv.FormatUint(n, 10)]
		if !bytes.Equal(ss.Bytes(), unhex(t, want)) {
			t.Errorf("P%d sig_share = %x, want %s", n, ss.Bytes(), want)
		}
		if err := group.VerifyShare(ss, msg, commitments); err != nil {
			t.Errorf("P%d share does not verify: %v", n, err)
		}
		sigShares = append(sigShares, ss)
	}

	sig, err := group.Aggregate(msg, commitments, sigShares)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(sig, unhex(t, v.Signature)) {
		t.Fatalf("sig = %x, want %s", sig, v.Signature)
	}
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatal("crypto/ed25519 rejects the RFC signature")
	}
}
