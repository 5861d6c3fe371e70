package tss

import (
	"math/big"

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
