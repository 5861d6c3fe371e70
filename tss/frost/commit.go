package frost

import (
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"io"
	"slices"
	"sync"

	"filippo.io/edwards25519"
)

// Commitment is one signer's round-one output (RFC 9591 Section 5.1): its
// identifier i with the hiding and binding nonce commitments D_i and E_i.
// It is public. A Commitment is valid only when made by Commit,
// NewCommitment or ParseCommitment, which decode and check the points once;
// the zero value is refused everywhere.
type Commitment struct {
	id      Identifier
	hiding  [ElementSize]byte // D_i
	binding [ElementSize]byte // E_i
	d, e    *edwards25519.Point
}

// CommitmentSize is the length of an encoded Commitment: SerializeScalar(i)
// || SerializeElement(D_i) || SerializeElement(E_i), one entry of RFC 9591
// Section 4.3's encoded commitment list.
const CommitmentSize = ScalarSize + 2*ElementSize

// NewCommitment decodes a signer's commitment from its parts, refusing
// non-canonical encodings, the identity and points outside the prime-order
// subgroup (RFC 9591 Section 6.1 DeserializeElement).
func NewCommitment(id Identifier, hiding, binding []byte) (Commitment, error) {
	if !id.valid() {
		return Commitment{}, fmt.Errorf("%w: zero identifier", ErrInvalidIdentifier)
	}
	d, err := deserializeElement(hiding)
	if err != nil {
		return Commitment{}, fmt.Errorf("frost: hiding commitment of %s: %w", id, err)
	}
	e, err := deserializeElement(binding)
	if err != nil {
		return Commitment{}, fmt.Errorf("frost: binding commitment of %s: %w", id, err)
	}
	c := Commitment{id: id, d: d, e: e}
	copy(c.hiding[:], hiding)
	copy(c.binding[:], binding)
	return c, nil
}

// ParseCommitment decodes MarshalBinary's encoding.
func ParseCommitment(b []byte) (Commitment, error) {
	if len(b) != CommitmentSize {
		return Commitment{}, fmt.Errorf("frost: commitment is %d bytes, want %d", len(b), CommitmentSize)
	}
	id, err := ParseIdentifier(b[:ScalarSize])
	if err != nil {
		return Commitment{}, fmt.Errorf("frost: commitment: %w", err)
	}
	return NewCommitment(id, b[ScalarSize:ScalarSize+ElementSize], b[ScalarSize+ElementSize:])
}

// Identifier returns the committing signer's identifier.
func (c Commitment) Identifier() Identifier { return c.id }

// Hiding returns the encoded hiding nonce commitment D_i.
func (c Commitment) Hiding() []byte { return slices.Clone(c.hiding[:]) }

// Binding returns the encoded binding nonce commitment E_i.
func (c Commitment) Binding() []byte { return slices.Clone(c.binding[:]) }

// MarshalBinary returns SerializeScalar(i) || D_i || E_i.
func (c Commitment) MarshalBinary() ([]byte, error) {
	if !c.valid() {
		return nil, fmt.Errorf("frost: commitment not made by Commit or NewCommitment")
	}
	return c.appendEncoding(make([]byte, 0, CommitmentSize)), nil
}

// Equal reports whether c and o are the same signer's same commitment.
func (c Commitment) Equal(o Commitment) bool {
	return c.id == o.id && subtle.ConstantTimeCompare(c.hiding[:], o.hiding[:]) == 1 &&
		subtle.ConstantTimeCompare(c.binding[:], o.binding[:]) == 1
}

// String prints the commitment (it is public).
func (c Commitment) String() string {
	return fmt.Sprintf("frost.Commitment{id=%s D=%s E=%s}", c.id, hex.EncodeToString(c.hiding[:]),
		hex.EncodeToString(c.binding[:]))
}

func (c Commitment) valid() bool { return c.id.valid() && c.d != nil && c.e != nil }

func (c Commitment) appendEncoding(b []byte) []byte {
	b = append(b, c.id.enc[:]...)
	b = append(b, c.hiding[:]...)
	return append(b, c.binding[:]...)
}

// Nonces is one signer's secret round-one state (RFC 9591 Section 5.1): the
// hiding and binding nonces behind one Commitment. It is single use: Sign
// consumes it, zeroing the nonces, before computing anything, and refuses it
// afterwards. Copies of a Nonces value share one state, so a copy cannot be
// used to sign twice. It is secret: String, GoString and Format print only
// the commitment. The zero Nonces is refused by Sign.
type Nonces struct {
	st *nonceState
}

type nonceState struct {
	mu         sync.Mutex
	used       bool
	hiding     edwards25519.Scalar
	binding    edwards25519.Scalar
	commitment Commitment
}

// Commitment returns the public commitment to these nonces.
func (n Nonces) Commitment() Commitment {
	if n.st == nil {
		return Commitment{}
	}
	return n.st.commitment
}

// Used reports whether the nonces were consumed by Sign or Discard, or were
// never made by Commit.
func (n Nonces) Used() bool {
	if n.st == nil {
		return true
	}
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	return n.st.used
}

// Discard zeroes unused nonces, for a commitment that will never be signed
// with (an abandoned session, a pool being emptied).
func (n Nonces) Discard() {
	if d, e, _, err := n.consume(); err == nil {
		zeroScalar(d)
		zeroScalar(e)
	}
}

// consume hands out the nonces exactly once: it copies them out, zeroes
// the state and marks it used, all under the lock.
func (n Nonces) consume() (hiding, binding *edwards25519.Scalar, c Commitment, err error) {
	if n.st == nil {
		return nil, nil, Commitment{}, fmt.Errorf("%w: not made by Commit", ErrNoncesUsed)
	}
	n.st.mu.Lock()
	defer n.st.mu.Unlock()
	if n.st.used {
		return nil, nil, Commitment{}, ErrNoncesUsed
	}
	n.st.used = true
	hiding = edwards25519.NewScalar().Set(&n.st.hiding)
	binding = edwards25519.NewScalar().Set(&n.st.binding)
	zeroScalar(&n.st.hiding)
	zeroScalar(&n.st.binding)
	return hiding, binding, n.st.commitment, nil
}

// String prints the public commitment only.
func (n Nonces) String() string {
	if n.st == nil {
		return "frost.Nonces(none)"
	}
	return fmt.Sprintf("frost.Nonces{id=%s used=%t nonces=REDACTED}", n.st.commitment.id, n.Used())
}

// GoString prints the public commitment only.
func (n Nonces) GoString() string { return n.String() }

// Format prints the public commitment only, for every verb.
func (n Nonces) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(n.String())) }

// nonceGenerate is nonce_generate (RFC 9591 Section 4.1): H3(random_bytes
// || SerializeScalar(secret)) with 32 fresh bytes from rand. Hashing in the
// secret hedges against a weak rand; rand must still be a CSPRNG.
func nonceGenerate(secret *edwards25519.Scalar, rand io.Reader) (*edwards25519.Scalar, error) {
	var rb [32]byte
	defer clear(rb[:])
	if _, err := io.ReadFull(rand, rb[:]); err != nil {
		return nil, fmt.Errorf("frost: read nonce randomness: %w", err)
	}
	enc := secret.Bytes()
	defer clear(enc)
	return h3(rb[:], enc), nil
}

// Commit is round one, commit (RFC 9591 Section 5.1): it draws the hiding
// and then the binding nonce with nonceGenerate, reading 32 bytes from rand
// for each, and returns them with their commitments D = hiding·B and
// E = binding·B. The Nonces stay with the signer; the Commitment is
// published. rand should be crypto/rand.Reader outside tests.
func Commit(share *KeyShare, rand io.Reader) (Nonces, Commitment, error) {
	st := &nonceState{}
	err := share.withSecret(func(s *edwards25519.Scalar) error {
		d, err := nonceGenerate(s, rand)
		if err != nil {
			return err
		}
		defer zeroScalar(d)
		e, err := nonceGenerate(s, rand)
		if err != nil {
			return err
		}
		defer zeroScalar(e)
		st.hiding.Set(d)
		st.binding.Set(e)
		return nil
	})
	if err != nil {
		return Nonces{}, Commitment{}, err
	}
	// Both points are multiples of B, so in the prime-order subgroup; they
	// are the identity only for a zero nonce, which H3 yields with
	// probability 2^-252. Refuse that rather than publish it.
	d := new(edwards25519.Point).ScalarBaseMult(&st.hiding)
	e := new(edwards25519.Point).ScalarBaseMult(&st.binding)
	id := edwards25519.NewIdentityPoint()
	if d.Equal(id) == 1 || e.Equal(id) == 1 {
		zeroScalar(&st.hiding)
		zeroScalar(&st.binding)
		return Nonces{}, Commitment{}, fmt.Errorf("frost: commit: zero nonce drawn")
	}
	c := Commitment{id: share.id, d: d, e: e}
	copy(c.hiding[:], d.Bytes())
	copy(c.binding[:], e.Bytes())
	st.commitment = c
	return Nonces{st: st}, c, nil
}
