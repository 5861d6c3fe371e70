package checker

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/anishathalye/porcupine"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/keyquorum/keyquorum/jepsen/model"
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

// NonceReuse checks that no two distinct ECDSA signatures of one key share
// r: two would give away the key.
func NonceReuse(history []porcupine.Operation) Check {
	c := Check{Name: "nonce-reuse", Verdict: Valid}
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
		s, err := ecdsa.ParseDERSignature(raw)
		if err != nil {
			continue // Ed25519, or unparsable: Signatures reports the latter
		}
		c.Checked++
		r := s.R()
		rb := r.Bytes()
		k := in.Key + "/" + hex.EncodeToString(rb[:])
		if prev, ok := byR[k]; ok && prev.sig != out.Signature {
			c.fail(Invalid, "key %s: requests %s and %s share r", in.Key, prev.rid, in.RequestID)
		}
		byR[k] = seen{out.Signature, in.RequestID}
	}
	return c
}
