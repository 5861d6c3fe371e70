package main

import (
	"encoding/hex"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// parseSignFormat checks `kq sign --format`: "" keeps the cluster's
// encoding (DER for ECDSA, the 64 bytes of RFC 8032 for Ed25519).
func parseSignFormat(s string) (client.Secp256k1Format, error) {
	switch f := client.Secp256k1Format(s); f {
	case "", client.FormatDER, client.FormatRaw, client.FormatEth:
		return f, nil
	}
	return "", usagef("--format %q: want der, raw or eth", s)
}

// checkFormatFits refuses a format the key's algorithm has no use for:
// an Ed25519 signature has one encoding, raw.
func checkFormatFits(k *kqpb.Key, f client.Secp256k1Format) error {
	if k.GetAlgorithm() == kqpb.Algorithm_ED25519 && f != "" && f != client.FormatRaw {
		return usagef("--format %s: key %s is Ed25519, whose signatures have one encoding, raw (64 bytes)", f, k.GetName())
	}
	return nil
}

// encodeSignView re-encodes every signature of v, each against the public
// key of the version that made it, which it must verify under.
func encodeSignView(v *signView, k *kqpb.Key, digest []byte, f client.Secp256k1Format) error {
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
