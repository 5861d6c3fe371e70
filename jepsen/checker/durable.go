package checker

import (
	"strings"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// durableState is what operations acknowledged before the final reads
// established, which the final reads must still show.
type durableState struct {
	keys     map[string]bool       // created keys, by name
	versions map[versionRef]string // version -> public key (hex), as acknowledged answers showed it
	revoked  map[versionRef]bool   // versions an acknowledged change showed revoked
	changed  map[string]bool       // keys any lifecycle change was asked of
	sigs     map[string]string     // request id / digest -> signature
}

// Durable checks that every operation acknowledged before finalStart is in
// the state the final reads (operations called at or after finalStart)
// saw: each acknowledged key exists with every version an acknowledged
// create or lifecycle change showed, under the same public key; a version
// an acknowledged change showed revoked is still revoked; a key no
// lifecycle change was asked of is still active; and each acknowledged
// signature is returned again for its request id and digest. A final read
// that got no answer makes the check inconclusive, not valid. Keys are by
// name, and signatures by request id and digest, as the final reads ask
// them.
func Durable(history []porcupine.Operation, finalStart int64) Check {
	c := Check{Name: "durable", Verdict: Valid}
	acked := durableState{keys: map[string]bool{}, versions: map[versionRef]string{}, revoked: map[versionRef]bool{},
		changed: map[string]bool{}, sigs: map[string]string{}}
	finalKeys := map[string]model.Output{}
	finalSigs := map[string]model.Output{}
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if op.Call < finalStart {
			acked.add(in, out)
			continue
		}
		switch in.Kind {
		case model.Get:
			if prev, ok := finalKeys[in.Key]; !ok || prev.Status == model.Unknown {
				finalKeys[in.Key] = out
			}
		case model.Sign:
			if prev, ok := finalSigs[in.RequestID+"/"+in.Digest]; !ok || prev.Status == model.Unknown {
				finalSigs[in.RequestID+"/"+in.Digest] = out
			}
		}
	}
	for name := range acked.keys {
		c.Checked++
		out, ok := finalKeys[name]
		switch {
		case !ok || out.Status == model.Unknown:
			c.fail(Inconclusive, "no final read of key %s", name)
		case out.Status != model.OK:
			c.fail(Invalid, "acknowledged key %s is gone: %s", name, out.Status)
		case !acked.changed[name] && out.Key.State != model.Active:
			c.fail(Invalid, "acknowledged key %s, never changed, now reads %s", name, out.Key.State)
		}
	}
	for ref, pub := range acked.versions {
		out, ok := finalKeys[ref.key]
		if !ok || out.Status != model.OK {
			continue // reported above
		}
		c.Checked++
		v, found := version(out.Key, ref.version)
		switch {
		case !found:
			c.fail(Invalid, "acknowledged %s is gone", ref)
		case v.PublicKey != pub || v.State == model.Generating || v.State == model.Failed:
			c.fail(Invalid, "acknowledged %s now reads %s %s", ref, v.State, v.PublicKey)
		case acked.revoked[ref] && v.State != model.Revoked:
			c.fail(Invalid, "%s, acknowledged revoked, now reads %s", ref, v.State)
		}
	}
	for ridDigest, sig := range acked.sigs {
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

// add notes what one operation before the final reads established.
func (d durableState) add(in model.Input, out model.Output) {
	if in.Kind.IsChange() {
		d.changed[in.Key] = true
	}
	if out.Status != model.OK {
		return
	}
	switch {
	case in.Kind == model.Create || in.Kind.IsChange():
		if in.Kind == model.Create {
			d.keys[in.Key] = true
		}
		for _, v := range out.Key.VersionList() {
			ref := versionRef{in.Key, v.Number}
			if _, ok := d.versions[ref]; !ok && v.PublicKey != "" {
				d.versions[ref] = v.PublicKey
			}
			if v.State == model.Revoked && in.Kind.IsChange() {
				d.revoked[ref] = true
			}
		}
	case in.Kind == model.Sign:
		if _, ok := d.sigs[in.RequestID+"/"+in.Digest]; !ok {
			d.sigs[in.RequestID+"/"+in.Digest] = out.Signature
		}
	}
}

// version returns version n of a key view.
func version(v model.KeyView, n uint32) (model.VersionView, bool) {
	for _, vv := range v.VersionList() {
		if vv.Number == n {
			return vv, true
		}
	}
	return model.VersionView{}, false
}
