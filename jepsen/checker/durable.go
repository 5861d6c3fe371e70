package checker

import (
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Durable checks that every operation acknowledged before finalStart is in
// the state the final reads (operations called at or after finalStart)
// saw: each acknowledged key is active with the same public key, and each
// acknowledged signature is returned again for its request id and digest.
// A final read that got no answer makes the check inconclusive, not valid.
// Keys are by name, and signatures by request id and digest, as the final
// reads ask them.
func Durable(history []porcupine.Operation, finalStart int64) Check {
	c := Check{Name: "durable", Verdict: Valid}
	ackedKeys := map[string]string{} // name -> public key
	ackedSigs := map[string]string{} // request id -> signature
	finalKeys := map[string]model.Output{}
	finalSigs := map[string]model.Output{}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		final := op.Call >= finalStart
		switch {
		case in.Kind == model.Create && !final && out.Status == model.OK:
			ackedKeys[in.Key] = out.Key.PublicKey
		case in.Kind == model.Sign && !final && out.Status == model.OK:
			if _, ok := ackedSigs[in.RequestID+"/"+in.Digest]; !ok {
				ackedSigs[in.RequestID+"/"+in.Digest] = out.Signature
			}
		case in.Kind == model.Get && final:
			if prev, ok := finalKeys[in.Key]; !ok || prev.Status == model.Unknown {
				finalKeys[in.Key] = out
			}
		case in.Kind == model.Sign && final:
			if prev, ok := finalSigs[in.RequestID+"/"+in.Digest]; !ok || prev.Status == model.Unknown {
				finalSigs[in.RequestID+"/"+in.Digest] = out
			}
		}
	}
	for name, pub := range ackedKeys {
		c.Checked++
		out, ok := finalKeys[name]
		switch {
		case !ok || out.Status == model.Unknown:
			c.fail(Inconclusive, "no final read of key %s", name)
		case out.Status != model.OK:
			c.fail(Invalid, "acknowledged key %s is gone: %s", name, out.Status)
		case out.Key.State != model.Active || out.Key.PublicKey != pub:
			c.fail(Invalid, "acknowledged key %s now reads %s %s", name, out.Key.State, out.Key.PublicKey)
		}
	}
	for ridDigest, sig := range ackedSigs {
		out, ok := finalSigs[ridDigest]
		rid, _, _ := strings.Cut(ridDigest, "/")
		if !ok {
			continue // not asked again: a request id reused with another digest
		}
		c.Checked++
		switch {
		case out.Status == model.Unknown:
			c.fail(Inconclusive, "no final answer for request %s", rid)
		case out.Status != model.OK:
			c.fail(Invalid, "acknowledged request %s now fails: %s", rid, out.Status)
		case out.Signature != sig:
			c.fail(Invalid, "request %s signed again: another signature for the same request id", rid)
		}
	}
	return c
}
