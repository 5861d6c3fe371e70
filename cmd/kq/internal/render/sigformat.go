package render

import (
	"encoding/hex"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Encode re-encodes every signature of v, each against the public
// key of the version that made it, which it must verify under.
func (v *SignView) Encode(k *kqpb.Key, digest []byte, f client.Secp256k1Format) error {
	if f == "" || k.GetAlgorithm() == kqpb.Algorithm_ED25519 {
		v.Format = string(f)
		return nil
	}
	pubs := map[uint32][]byte{}
	for _, kv := range k.GetVersions() {
		pubs[kv.GetVersion()] = kv.GetPublicKey()
	}
	encode := func(version uint32, sigHex string) (string, error) {
		raw, ok := pubs[version]
		if !ok && version == k.GetVersion() {
			raw, ok = k.GetPublicKey(), true
		}
		if !ok {
			return "", fmt.Errorf("key %s has no version %d to check its signature against", k.GetName(), version)
		}
		pub, err := secp256k1.ParsePubKey(raw)
		if err != nil {
			return "", fmt.Errorf("key %s version %d: public key: %w", k.GetName(), version, err)
		}
		der, err := hex.DecodeString(sigHex)
		if err != nil {
			return "", err
		}
		out, err := client.EncodeSecp256k1(pub, digest, der, f)
		if err != nil {
			return "", fmt.Errorf("version %d: %w", version, err)
		}
		return hex.EncodeToString(out), nil
	}
	var err error
	if v.SignatureHex, err = encode(v.Version, v.SignatureHex); err != nil {
		return err
	}
	for i, s := range v.Signatures {
		if v.Signatures[i].SignatureHex, err = encode(s.Version, s.SignatureHex); err != nil {
			return err
		}
	}
	v.Format = string(f)
	return nil
}
