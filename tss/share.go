package tss

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"slices"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
)

// Share encodings. Version 2 added the epoch; version 1 shares (written
// before resharing existed) decode as epoch 0, whose party keys are the ones
// version 1 always used.
const (
	shareVersion   = 2
	shareVersionV1 = 1
)

// Share is one member's secret key share (tss-lib save data) plus the public
// facts needed to sign with it. It is secret: String and Format print only
// public facts, and MarshalBinary's output must be sealed by the caller. A
// Share is safe for concurrent signing; Wipe must not race with use.
type Share struct {
	alg       Algorithm
	threshold int
	self      string
	epoch     uint32              // party-key epoch: 0 after keygen, +1 per reshare
	parties   []string            // sorted node IDs
	keys      map[string]*big.Int // public tss-lib party keys (Shamir points)
	ecdsa     *ecdsakeygen.LocalPartySaveData
	eddsa     *eddsakeygen.LocalPartySaveData
	pub       []byte
	wiped     bool
}

type shareParty struct {
	ID  string `json:"id"`
	Key []byte `json:"key"`
}

type shareFile struct {
	Version   int                             `json:"version"`
	Algorithm string                          `json:"algorithm"`
	Threshold int                             `json:"threshold"`
	Self      string                          `json:"self"`
	Epoch     uint32                          `json:"epoch"`
	Parties   []shareParty                    `json:"parties"`
	ECDSA     *ecdsakeygen.LocalPartySaveData `json:"ecdsa,omitempty"`
	EdDSA     *eddsakeygen.LocalPartySaveData `json:"eddsa,omitempty"`
}

// Algorithm returns the share's signature scheme.
func (s *Share) Algorithm() Algorithm { return s.alg }

// Threshold returns t: any t+1 members can sign.
func (s *Share) Threshold() int { return s.threshold }

// Self returns the node ID this share belongs to.
func (s *Share) Self() string { return s.self }

// Epoch returns the share's epoch: 0 for a share from Keygen, one more than
// the previous share's for a share from Reshare. Party keys (Shamir
// evaluation points) derive from node ID and epoch.
func (s *Share) Epoch() uint32 { return s.epoch }

// Parties returns all n members' node IDs, sorted.
func (s *Share) Parties() []string { return slices.Clone(s.parties) }

// PublicKey returns the group public key: a 33-byte compressed secp256k1
// point for ECDSA, the 32-byte RFC 8032 encoding for Ed25519.
func (s *Share) PublicKey() []byte { return slices.Clone(s.pub) }

// MarshalBinary encodes the share. The bytes are secret.
func (s *Share) MarshalBinary() ([]byte, error) {
	if s == nil || s.wiped {
		return nil, errors.New("tss: share wiped")
	}
	f := shareFile{Version: shareVersion, Algorithm: s.alg.String(), Threshold: s.threshold,
		Self: s.self, Epoch: s.epoch, ECDSA: s.ecdsa, EdDSA: s.eddsa}
	for _, p := range s.parties {
		f.Parties = append(f.Parties, shareParty{ID: p, Key: s.keys[p].Bytes()})
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, errors.New("tss: encode share failed")
	}
	return b, nil
}

// UnmarshalShare decodes and re-validates a share from MarshalBinary: the
// curve of every point by name, points on the curve, party and key counts,
// party keys against node IDs and epoch, and that the secret share matches
// this member's public share. It also accepts the version 1 encoding (no
// epoch) as an epoch 0 share.
func UnmarshalShare(b []byte) (*Share, error) {
	var f shareFile
	if err := json.Unmarshal(b, &f); err != nil {
		// The decoder's message can quote input bytes; keep it out.
		return nil, fmt.Errorf("%w: share does not decode", ErrInvalidRequest)
	}
	switch f.Version {
	case shareVersion:
	case shareVersionV1:
		if f.Epoch != 0 {
			return nil, invalidf("version %d share carries an epoch", f.Version)
		}
	default:
		return nil, invalidf("unknown share version %d", f.Version)
	}
	alg, err := ParseAlgorithm(f.Algorithm)
	if err != nil {
		return nil, invalidf("share algorithm %q", f.Algorithm)
	}
	s := &Share{alg: alg, threshold: f.Threshold, self: f.Self, epoch: f.Epoch, ecdsa: f.ECDSA, eddsa: f.EdDSA,
		keys: make(map[string]*big.Int, len(f.Parties))}
	for _, p := range f.Parties {
		if _, dup := s.keys[p.ID]; dup {
			return nil, invalidf("share lists %q twice", p.ID)
		}
		s.keys[p.ID] = new(big.Int).SetBytes(p.Key)
		s.parties = append(s.parties, p.ID)
	}
	slices.Sort(s.parties)
	if err := s.validate(); err != nil {
		return nil, err
	}
	return s, nil
}

// Wipe zeroes the secret share and, for ECDSA, the Paillier and safe-prime
// secrets, as far as Go allows. The share is unusable afterwards.
func (s *Share) Wipe() {
	if s == nil {
		return
	}
	s.wiped = true
	if s.ecdsa != nil {
		zero(s.ecdsa.Xi, s.ecdsa.P, s.ecdsa.Q, s.ecdsa.Alpha, s.ecdsa.Beta)
		if sk := s.ecdsa.PaillierSK; sk != nil {
			zero(sk.LambdaN, sk.PhiN, sk.P, sk.Q)
		}
	}
	if s.eddsa != nil {
		zero(s.eddsa.Xi)
	}
}

func zero(xs ...*big.Int) {
	for _, x := range xs {
		if x == nil {
			continue
		}
		w := x.Bits()
		for i := range w {
			w[i] = 0
		}
		x.SetInt64(0)
	}
}

// String prints public facts only.
func (s *Share) String() string {
	if s == nil {
		return "tss.Share(nil)"
	}
	return fmt.Sprintf("tss.Share{%s %d-of-%d self=%s epoch=%d pub=%s}", s.alg, s.threshold+1,
		len(s.parties), s.self, s.epoch, hex.EncodeToString(s.pub))
}

// GoString prints public facts only.
func (s *Share) GoString() string { return s.String() }

// Format prints public facts only, for every verb.
func (s *Share) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(s.String())) }

// keyOf returns a member's party key, or nil.
func (s *Share) keyOf(node string) *big.Int { return s.keys[node] }

// own returns a copy of a freshly made share that shares no memory with
// the caller's PreParams. tss-lib copies LocalPreParams by value, which
// keeps its big.Int and Paillier pointers: without this, wiping one share
// (a destroyed key, an old epoch) would zero the pre-params, and so the
// Paillier key, of every other share made with them. The original is
// dropped, not wiped, for the same reason.
func (s *Share) own() (*Share, error) {
	c, err := s.clone()
	if err != nil {
		return nil, err
	}
	// Xi is the one secret of s that is not shared; zero it.
	if s.ecdsa != nil {
		zero(s.ecdsa.Xi)
	}
	if s.eddsa != nil {
		zero(s.eddsa.Xi)
	}
	return c, nil
}

// clone returns an independent deep copy of the share (its secret too),
// through the encoding so no pointer is shared with s.
func (s *Share) clone() (*Share, error) {
	b, err := s.MarshalBinary()
	if err != nil {
		return nil, err
	}
	defer clear(b)
	c, err := UnmarshalShare(b)
	if err != nil {
		return nil, fmt.Errorf("tss: copy share: %w", err)
	}
	return c, nil
}
