package main

import (
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
