package tss_test

import (
	"context"
	"testing"

	"github.com/bnb-chain/tss-lib/v2/common"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

// benchRawSign measures tss-lib signing alone (no engine, no dedup, no
// transport framing), all parties in this process, routed by tsstest.RouteRaw.
func benchRawSign(b *testing.B, alg tss.Algorithm) {
	f := sharedKey(b, alg)
	committee := committees[0]
	msg := randomBytes(b, 32)
	pub := f.shares["node-a"].PublicKey()
	b.ResetTimer()
	for range b.N {
		out := make(chan tsslib.Message, 256)
		end := make(chan *common.SignatureData, len(committee))
		parties, err := tss.RawSignParties(f.shares, committee, msg, out, end)
		if err != nil {
			b.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		errs := tsstest.RouteRaw(ctx, parties, out)
		var d *common.SignatureData
		for range committee {
			select {
			case d = <-end:
			case err := <-errs:
				cancel()
				b.Fatal(err)
			}
		}
		cancel()
		sig, err := tss.EncodeSignature(alg, d)
		if err != nil || !tss.Verify(alg, pub, msg, sig) {
			b.Fatalf("raw signature does not verify: %v", err)
		}
	}
}

func BenchmarkRawSignECDSA2of3(b *testing.B)    { benchRawSign(b, tss.ECDSASecp256k1) }
func BenchmarkRawSignEd25519_2of3(b *testing.B) { benchRawSign(b, tss.Ed25519) }

// benchEngineSign measures the same signature through Engine and tsstest.Network.
func benchEngineSign(b *testing.B, alg tss.Algorithm) {
	f := sharedKey(b, alg)
	msg := randomBytes(b, 32)
	b.ResetTimer()
	for range b.N {
		sid := newSID(b)
		_, errs := signAll(context.Background(), f.engines, f.shares, sid, committees[0], msg)
		for _, err := range errs {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkEngineSignECDSA2of3(b *testing.B)    { benchEngineSign(b, tss.ECDSASecp256k1) }
func BenchmarkEngineSignEd25519_2of3(b *testing.B) { benchEngineSign(b, tss.Ed25519) }
