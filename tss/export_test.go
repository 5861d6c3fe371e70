package tss

import (
	"context"
	"crypto/rand"
	"math/big"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// RawSignParties builds raw tss-lib signing parties for the committee from
// the members' shares, bypassing the engine, for benchmarks.
func RawSignParties(shares map[string]*Share, committee []string, msg []byte,
	out chan tsslib.Message, end chan *common.SignatureData) ([]tsslib.Party, error) {
	var any *Share
	for _, s := range shares {
		any = s
		break
	}
	ec, _ := curveFor(any.alg)
	var parties []tsslib.Party
	for _, node := range committee {
		sh := shares[node]
		c, err := newCommittee(committee, sh.keyOf, ec.Params().N)
		if err != nil {
			return nil, err
		}
		params := tsslib.NewParameters(ec, tsslib.NewPeerContext(c.sorted), c.byNode[node], len(committee), sh.threshold)
		m := new(big.Int).SetBytes(msg)
		if sh.alg == ECDSASecp256k1 {
			parties = append(parties, ecdsasigning.NewLocalParty(m, params, *sh.ecdsa, out, end, len(msg)))
		} else {
			parties = append(parties, eddsasigning.NewLocalParty(m, params, *sh.eddsa, out, end, len(msg)))
		}
	}
	return parties, nil
}

// EncodeSignature exposes encodeSignature for benchmarks.
func EncodeSignature(alg Algorithm, d *common.SignatureData) ([]byte, error) {
	return encodeSignature(alg, d)
}

// SignParked runs this engine's side of an ECDSA signature the presignature
// way: rounds 1-4 run over a random placeholder while inbound round-4
// messages are held; once parked (all peers' round-4 messages held) it binds
// digest on the worker goroutine and releases them. It exercises the hold
// hook a presignature pool will use.
func (e *Engine) SignParked(ctx context.Context, req SignRequest, digest []byte, parked func()) ([]byte, error) {
	ph, err := rand.Int(rand.Reader, tsslib.S256().Params().N)
	if err != nil {
		return nil, err
	}
	req.Message = ph.FillBytes(make([]byte, 32))
	s, err := e.newSignSession(req)
	if err != nil {
		return nil, err
	}
	s.hold = func(t, _ string) bool { return t == ecdsaSignPrefix+"SignRound4Message" }
	peers := int32(len(req.Committee) - 1)
	go func() {
		for s.heldCount.Load() < peers {
			select {
			case <-s.done:
				return
			case <-time.After(time.Millisecond):
			}
		}
		parked()
		_ = s.releaseHeld(func() { s.message.SetBytes(digest) })
	}()
	res, err := e.run(ctx, s)
	if err != nil {
		return nil, err
	}
	return encodeSignature(ECDSASecp256k1, res.(*common.SignatureData))
}
