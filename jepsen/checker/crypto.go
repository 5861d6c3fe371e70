package checker

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/anishathalye/porcupine"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/jepsen/model"
	"github.com/keyquorum/keyquorum/tss/frost"
)

// publicKey is one key version's public key as the cluster reported it.
type publicKey struct {
	algorithm string
	pem, raw  string // raw: hex
}

// versionRef names one version of one key.
type versionRef struct {
	key     string
	version uint32
}

func (v versionRef) String() string { return fmt.Sprintf("%s v%d", v.key, v.version) }

// publicKeys collects every version's public key reported by a successful
// operation (Key.versions[].public_key; the final reads report every
// version of every key). A version reported with two different public keys
// is a violation by itself, which the model also catches.
func publicKeys(history []porcupine.Operation) (map[versionRef]publicKey, []string) {
	keys := map[versionRef]publicKey{}
	var conflicts []string
	note := func(v model.KeyView) {
		for _, vv := range v.VersionList() {
			if vv.PEM == "" {
				continue
			}
			ref := versionRef{v.Name, vv.Number}
			pk := publicKey{algorithm: v.Algorithm, pem: vv.PEM, raw: vv.PublicKey}
			if old, ok := keys[ref]; ok && old != pk {
				conflicts = append(conflicts, fmt.Sprintf("%s reported with two public keys", ref))
				continue
			}
			keys[ref] = pk
		}
	}
	for _, op := range history {
		out := op.Output.(model.Output)
		if out.Status != model.OK {
			continue
		}
		note(out.Key)
		for _, v := range out.Keys {
			note(v)
		}
	}
	return keys, conflicts
}

// Signatures checks that every returned signature verifies under the
// public key the cluster reported for the version that, by the answer,
// made it, and that ECDSA signatures are low-s.
func Signatures(history []porcupine.Operation) Check {
	c := Check{Name: "signatures", Verdict: Valid}
	keys, conflicts := publicKeys(history)
	for _, msg := range conflicts {
		c.fail(Invalid, "%s", msg)
	}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || out.Status != model.OK {
			continue
		}
		c.Checked++
		ref := versionRef{in.Key, out.Version}
		pk, ok := keys[ref]
		if !ok {
			c.fail(Inconclusive, "no public key of %s was ever reported", ref)
			continue
		}
		if err := verify(pk, in.Digest, out.Signature); err != nil {
			c.fail(Invalid, "request %s on %s: %v", in.RequestID, ref, err)
		}
	}
	return c
}

// verify checks one signature; digest and sig are hex.
func verify(pk publicKey, digestHex, sigHex string) error {
	digest, err1 := hex.DecodeString(digestHex)
	sig, err2 := hex.DecodeString(sigHex)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	block, _ := pem.Decode([]byte(pk.pem))
	if block == nil {
		return errors.New("public key is not PEM")
	}
	switch pk.algorithm {
	case "ed25519":
		if len(block.Bytes) < ed25519.PublicKeySize {
			return errors.New("short Ed25519 public key")
		}
		pub := ed25519.PublicKey(block.Bytes[len(block.Bytes)-ed25519.PublicKeySize:])
		if hex.EncodeToString(pub) != pk.raw {
			return errors.New("PEM and raw public key differ")
		}
		if !ed25519.Verify(pub, digest, sig) {
			return errors.New("Ed25519 signature does not verify")
		}
	case "ecdsa-secp256k1":
		const uncompressed = 65
		if len(block.Bytes) < uncompressed {
			return errors.New("short secp256k1 public key")
		}
		pub, err := secp256k1.ParsePubKey(block.Bytes[len(block.Bytes)-uncompressed:])
		if err != nil {
			return fmt.Errorf("public key: %w", err)
		}
		if hex.EncodeToString(pub.SerializeCompressed()) != pk.raw {
			return errors.New("PEM and raw public key differ")
		}
		s, err := ecdsa.ParseDERSignature(sig)
		if err != nil {
			return fmt.Errorf("signature: %w", err)
		}
		if sv := s.S(); sv.IsOverHalfOrder() {
			return errors.New("ECDSA signature is not low-s")
		}
		if !s.Verify(digest, pub) {
			return errors.New("ECDSA signature does not verify")
		}
	default:
		return fmt.Errorf("unknown algorithm %q", pk.algorithm)
	}
	return nil
}

// NonceReuse checks that no two distinct signatures of one key share
// their nonce point: r of an ECDSA signature, R of an Ed25519 one. Two
// would give away the key.
func NonceReuse(history []porcupine.Operation) Check {
	c := Check{Name: "nonce-reuse", Verdict: Valid}
	keys, _ := publicKeys(history)
	type seen struct{ sig, rid string }
	byR := map[string]seen{}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || out.Status != model.OK {
			continue
		}
		raw, err := hex.DecodeString(out.Signature)
		if err != nil {
			continue
		}
		var r []byte
		if pk := keys[versionRef{in.Key, out.Version}]; pk.algorithm == "ed25519" {
			if len(raw) != ed25519.SignatureSize {
				continue // Signatures reports it
			}
			r = raw[:32]
		} else {
			s, err := ecdsa.ParseDERSignature(raw)
			if err != nil {
				continue // unparsable, or of a key never reported: Signatures reports it
			}
			rs := s.R()
			rb := rs.Bytes()
			r = rb[:]
		}
		c.Checked++
		k := in.Key + "/" + hex.EncodeToString(r)
		if prev, ok := byR[k]; ok && prev.sig != out.Signature {
			c.fail(Invalid, "key %s: requests %s and %s share r", in.Key, prev.rid, in.RequestID)
		}
		byR[k] = seen{out.Signature, in.RequestID}
	}
	return c
}

// FrostCommitments checks the nonce commitments a FROST signature reports
// (model.Output.Frost): each decodes as RFC 9591 encodes it, the group
// commitment they make for the signed message under the version's public
// key is the signature's R (so the report is the truth: a node cannot
// show other commitments than the ones that signed), and no hiding or
// binding nonce commitment of one key appears in two requests. A reused
// commitment means a member signed twice with one nonce pair, which gives
// away its share even when R differs, as it does: the binding factors
// change with the message. NonceReuse does not see that.
func FrostCommitments(history []porcupine.Operation) Check {
	c := Check{Name: "frost-commitments", Verdict: Valid}
	keys, _ := publicKeys(history)
	type use struct{ rid, what string }
	seen := map[string]use{} // key/point -> first request that used it
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || out.Status != model.OK || len(out.Frost) == 0 {
			continue
		}
		c.Checked++
		ref := versionRef{in.Key, out.Version}
		list, err := frostList(out.Frost)
		if err != nil {
			c.fail(Invalid, "request %s on %s: %v", in.RequestID, ref, err)
			continue
		}
		if pk, ok := keys[ref]; !ok {
			c.fail(Inconclusive, "no public key of %s was ever reported", ref)
		} else if err := frostR(pk, in.Digest, out.Signature, list); err != nil {
			c.fail(Invalid, "request %s on %s: %v", in.RequestID, ref, err)
		}
		for _, cm := range list {
			for _, pt := range []struct {
				what string
				p    []byte
			}{{"hiding", cm.Hiding()}, {"binding", cm.Binding()}} {
				what, p := pt.what, pt.p
				k := in.Key + "/" + hex.EncodeToString(p)
				prev, ok := seen[k]
				if ok && prev.rid != in.RequestID {
					c.fail(Invalid, "key %s: requests %s and %s share a nonce commitment (%s of signer %s, %s in the first): a nonce signed twice",
						in.Key, prev.rid, in.RequestID, what, cm.Identifier(), prev.what)
				}
				if !ok {
					seen[k] = use{in.RequestID, what}
				}
			}
		}
	}
	if c.Checked == 0 {
		c.note("no FROST signature reported its commitments")
	}
	return c
}

func frostList(hexes []string) ([]frost.Commitment, error) {
	list := make([]frost.Commitment, 0, len(hexes))
	for _, h := range hexes {
		b, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("commitment: %w", err)
		}
		cm, err := frost.ParseCommitment(b)
		if err != nil {
			return nil, err
		}
		list = append(list, cm)
	}
	return list, nil
}

// frostR checks that the commitments make the signature's R.
func frostR(pk publicKey, digestHex, sigHex string, list []frost.Commitment) error {
	if pk.algorithm != "ed25519" {
		return fmt.Errorf("FROST commitments reported for a key that is not Ed25519 (%q)", pk.algorithm)
	}
	pub, err1 := hex.DecodeString(pk.raw)
	msg, err2 := hex.DecodeString(digestHex)
	sig, err3 := hex.DecodeString(sigHex)
	if err := errors.Join(err1, err2, err3); err != nil {
		return err
	}
	r, err := frost.GroupCommitment(pub, msg, list)
	if err != nil {
		return fmt.Errorf("group commitment: %w", err)
	}
	if len(sig) != ed25519.SignatureSize || !bytes.Equal(r, sig[:32]) {
		return errors.New("the reported FROST commitments do not make the signature's R")
	}
	return nil
}
