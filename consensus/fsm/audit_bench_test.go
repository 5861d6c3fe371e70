package fsm_test

import (
	"crypto/ed25519"
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
)

// BenchmarkApplySignAudit measures what the audit chain adds to the
// replicated part of one signature: the request and two members' reports,
// with audit off and on (record derivation, hashing, the recent window).
func BenchmarkApplySignAudit(b *testing.B) {
	for _, on := range []bool{false, true} {
		b.Run(fmt.Sprintf("audit=%v", on), func(b *testing.B) {
			f, err := fsm.NewFSM(fsm.DefaultFSMConfig(), audCrypto{})
			if err != nil {
				b.Fatal(err)
			}
			if on {
				if err := f.EnableAudit(auditchain.DefaultConfig()); err != nil {
					b.Fatal(err)
				}
			}
			pub, priv, _ := ed25519.GenerateKey(nil)
			idx := uint64(0)
			apply := func(c fsm.Command) fsm.Result {
				data, _ := fsm.Encode(c)
				idx++
				return f.Apply(&raft.Log{Index: idx, Type: raft.LogCommand, Data: data}).(fsm.Result)
			}
			apply(&fsm.CreateKey{RequestID: "c", Name: "ed", Algorithm: "ed25519", Threshold: 1, Members: []string{"n1", "n2"}, Actor: "a", Time: 1})
			apply(&fsm.ShareStored{Key: "ed", Version: 1, Node: "n1", PublicKey: pub})
			apply(&fsm.ShareStored{Key: "ed", Version: 1, Node: "n2", PublicKey: pub})
			grant := grantFor("ed", int64(time.Hour))
			apply(&grant)
			msg := []byte("a message of ordinary length to sign")
			sig := ed25519.Sign(priv, msg)
			b.ResetTimer()
			for i := range b.N {
				id := fmt.Sprintf("s%d", i)
				req := authorized(fsm.SignRequested{RequestID: id, Key: "ed", Digest: msg, Committee: []string{"n1", "n2"}, Actor: "spiffe://c/client/app", Time: int64(i + 2)})
				// A refused request would measure the refusal, not a signature.
				if res := apply(&req); res.Err != nil {
					b.Fatal(res.Err)
				}
				apply(&fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n1", Signature: sig})
				apply(&fsm.SignCompleted{RequestID: id, Attempt: 1, Node: "n2", Signature: sig})
			}
		})
	}
}
