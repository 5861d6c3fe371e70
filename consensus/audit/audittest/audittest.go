// Package audittest builds audit chains for tests: linked records with
// checkpoint records signed as the cluster signs them.
package audittest

import (
	"crypto/ed25519"
	"encoding/hex"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// DefaultActor is the actor of a chain's sign records unless told otherwise.
const DefaultActor = "spiffe://kq-test/client/admin"

// Chain builds n linked records with a checkpoint record after every
// 10th, signed by priv over the head two records back, as the cluster
// does. Record i (0-based, checkpoints counted) gets actor actorOf(i), or
// DefaultActor when actorOf is nil, so two chains built with different
// actorOf diverge at the first record they name differently.
func Chain(n int, priv ed25519.PrivateKey, actorOf func(i int) string) []audit.Record {
	var out []audit.Record
	var seq uint64
	head := ""
	add := func(r audit.Record) {
		r = audit.Link(seq, head, r)
		seq, head = r.Seq, r.Hash
		out = append(out, r)
	}
	for i := 0; len(out) < n; i++ {
		actor := DefaultActor
		if actorOf != nil {
			actor = actorOf(len(out))
		}
		add(audit.Record{Index: uint64(i + 1), Time: int64(i) * 1e9, Actor: actor, Op: "sign", Key: "k", Version: 1,
			RequestID: fmt.Sprintf("r%d", i), InputSHA256: audit.InputHash([]byte{byte(i)}), Outcome: audit.OutcomeOK})
		if len(out)%10 == 0 && len(out) < n {
			at := out[len(out)-3]
			sig := ed25519.Sign(priv, audit.CheckpointMessage(at.Seq, at.Hash))
			add(audit.Record{Index: uint64(i + 1), Actor: "node:n1", Op: audit.OpCheckpoint, Key: "_audit", Outcome: audit.OutcomeOK,
				Checkpoint: &audit.Checkpoint{Seq: at.Seq, Head: at.Hash, Signature: hex.EncodeToString(sig)}})
		}
	}
	return out
}
