package keys

import (
	"fmt"
	"slices"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
)

// A refresh moves a key version to new shares of the same public key,
// dealt by a committee of threshold+1 current holders; the shares' epoch
// counts refreshes. Resharing is a refresh whose new holders and threshold
// are named: to other holders (a member left out because it is dead or
// leaving, a member joining) and to another threshold. The key switches to
// the new shares only when every new holder confirmed its share
// (ConfirmRefresh), so a refresh that cannot finish changes nothing.
// Holders a reshare left out become the key's Former holders until each
// reports it shredded its share files (ShredFormer); the new shares come
// from a new polynomial, so the old ones are useless either way.
//
// A key's holders and threshold are the key's, not a version's: a reshare
// that changes them is refused while another version of the key could sign
// or is being generated or refreshed (promote and retire first).

// Refresh starts a refresh of version (0: the primary) to new shares held
// by the same members, dealt by committee. ready is which members hold
// pre-parameters.
func (k *Key) Refresh(at At, requestID string, version uint32, committee []string, ready map[string]bool) (uint32, error) {
	v, err := k.pick(version, k.Primary)
	switch {
	case err != nil:
		return 0, err
	case !v.State.CanSign():
		return 0, fmt.Errorf("%w: v%d is %s; only a staged or active version is refreshed", fsmerr.ErrBadTransition, v.Number, v.State)
	case v.Refresh != nil:
		return 0, fmt.Errorf("%w: v%d is already being refreshed", fsmerr.ErrBadTransition, v.Number)
	}
	if err := k.CheckCommittee(committee); err != nil {
		return 0, err
	}
	if err := CheckPreParams(ready, k.Algorithm, k.Members); err != nil {
		return 0, err
	}
	v.Refresh = &Refresh{Epoch: v.Epoch + 1, Index: at.Index, Started: at.Time, RequestID: requestID, Committee: slices.Clone(committee)}
	return v.Number, nil
}

// Reshare is what a reshare chooses: the version (0: the primary), its
// new holders and threshold, the committee that deals, and why.
type Reshare struct {
	RequestID string
	Version   uint32
	Members   []string
	Threshold int
	Committee []string
	Reason    string
}

// Reshare starts a reshare and returns the version and a note of what
// changes, for the audit trail. mayHold reports whether a node that holds
// no share of k may receive one; ready is which members hold
// pre-parameters.
func (k *Key) Reshare(at At, r *Reshare, mayHold func(node string) bool, ready map[string]bool) (uint32, string, error) {
	v, err := k.pick(r.Version, k.Primary)
	switch {
	case err != nil:
		return 0, "", err
	case !v.State.CanSign():
		return 0, "", fmt.Errorf("%w: v%d is %s; only a staged or active version is reshared", fsmerr.ErrBadTransition, v.Number, v.State)
	case v.Refresh != nil:
		return 0, "", fmt.Errorf("%w: v%d is already being refreshed", fsmerr.ErrBadTransition, v.Number)
	case len(r.Members) == 0 || HasDuplicates(r.Members):
		return 0, "", fmt.Errorf("%w: new holders must be distinct and at least one", fsmerr.ErrInvalidCommand)
	case r.Threshold < 1 || r.Threshold >= len(r.Members):
		return 0, "", fmt.Errorf("%w: threshold %d for %d holders: need 1 <= threshold < holders", fsmerr.ErrInvalidCommand, r.Threshold, len(r.Members))
	}
	for _, m := range r.Members {
		if !k.HasMember(m) && !mayHold(m) {
			return 0, "", fmt.Errorf("%w: %s is neither a holder of %q nor a cluster member that may hold them", fsmerr.ErrInvalidCommand, m, k.Name)
		}
	}
	members := slices.Sorted(slices.Values(r.Members))
	same := slices.Equal(members, k.Members) && r.Threshold == k.Threshold
	if !same {
		// Holders and threshold are the key's: no other version may still
		// sign with, or be building, shares of the old holders.
		for _, o := range k.Versions {
			if o.Number != v.Number && (o.State.CanSign() || o.State == Generating || o.Refresh != nil) {
				return 0, "", fmt.Errorf("%w: v%d is %s; a key's holders and threshold change only while one version signs (promote and retire first)", fsmerr.ErrBadTransition, o.Number, o.State)
			}
		}
	}
	if err := k.CheckCommittee(r.Committee); err != nil {
		return 0, "", err
	}
	if err := CheckPreParams(ready, k.Algorithm, members); err != nil {
		return 0, "", err
	}
	rf := &Refresh{Epoch: v.Epoch + 1, Index: at.Index, Started: at.Time, RequestID: r.RequestID, Committee: slices.Clone(r.Committee)}
	note := fmt.Sprintf("v%d epoch %d -> %d, dealt by %v", v.Number, v.Epoch, rf.Epoch, r.Committee)
	if !same {
		rf.Members, rf.Threshold = members, r.Threshold
		note += fmt.Sprintf("; holders %v -> %v, threshold %d -> %d", k.Members, members, k.Threshold, r.Threshold)
		if left := absentFrom(k.Members, members); len(left) > 0 {
			note += fmt.Sprintf("; %v left out: their shares are useless once the new ones are confirmed", left)
		}
	}
	if r.Reason != "" {
		note += " (" + r.Reason + ")"
	}
	v.Refresh = rf
	return v.Number, note, nil
}

// Refreshing returns version while its refresh to epoch runs; a report
// about any other is stale.
func (k *Key) Refreshing(version, epoch uint32) (*Version, error) {
	v := k.Version(version)
	if v == nil || v.Refresh == nil || v.Refresh.Epoch != epoch {
		return nil, fmt.Errorf("%q v%d epoch %d: %w: no such refresh running", k.Name, version, epoch, fsmerr.ErrStale)
	}
	return v, nil
}

// ConfirmRefresh records that node sealed its new share of v, whose
// refresh runs, with public key pub; dup is true when it already had.
// A changed public key abandons the refresh. switched is true when node
// was the last new holder: the version is at the new epoch, with the
// refresh's holders, and what the old shares left (presignatures are
// bound to them) is the caller's to drop.
func (k *Key) ConfirmRefresh(index uint64, v *Version, node string, pub []byte) (switched, dup bool, err error) {
	parties := v.Refresh.Parties(k)
	switch {
	case !slices.Contains(parties, node):
		return false, false, fmt.Errorf("refreshed share of %q from %s: %w: not a new holder", k.Name, node, fsmerr.ErrInvalidCommand)
	case string(pub) != string(v.PublicKey):
		v.Refresh = nil
		return false, false, fmt.Errorf("refreshed share of %q v%d from %s: %w: public key changed; refresh abandoned", k.Name, v.Number, node, ErrBadSignature)
	case slices.Contains(v.Refresh.Confirmed, node):
		return false, true, nil
	}
	v.Refresh.Confirmed = append(v.Refresh.Confirmed, node)
	slices.Sort(v.Refresh.Confirmed)
	if len(v.Refresh.Confirmed) < len(parties) {
		return false, false, nil
	}
	k.switchHolders(index, v.Refresh)
	v.Epoch, v.Refresh = v.Refresh.Epoch, nil
	return true, false, nil
}

// switchHolders makes a finished refresh's holders and threshold the
// key's, and records the holders it left out as former ones.
func (k *Key) switchHolders(index uint64, r *Refresh) {
	if len(r.Members) == 0 {
		return
	}
	for _, m := range absentFrom(k.Members, r.Members) {
		k.Former = slices.DeleteFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == m })
		k.Former = append(k.Former, &FormerHolder{Node: m, Index: index})
	}
	// A node that holds shares again is no former holder.
	k.Former = slices.DeleteFunc(k.Former, func(fh *FormerHolder) bool { return slices.Contains(r.Members, fh.Node) })
	slices.SortFunc(k.Former, func(a, b *FormerHolder) int { return strings.Compare(a.Node, b.Node) })
	if len(k.Former) == 0 {
		k.Former = nil
	}
	k.Members = slices.Clone(r.Members)
	k.Threshold = r.Threshold
}

// WasHolder reports whether node is a former holder of k.
func (k *Key) WasHolder(node string) bool {
	return slices.ContainsFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == node })
}

// Unshredded reports whether node is a former holder of k that has not
// reported shredding its shares.
func (k *Key) Unshredded(node string) bool {
	return slices.ContainsFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == node && !fh.Shredded })
}

// ShredFormer records that node, a former holder, shredded its share
// files of k; dup is true when it already had.
func (k *Key) ShredFormer(node string) (dup bool, err error) {
	i := slices.IndexFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == node })
	switch {
	case i < 0:
		return false, fmt.Errorf("shares of %q shredded by %s: %w: not a former holder", k.Name, node, fsmerr.ErrStale)
	case k.Former[i].Shredded:
		return true, nil
	}
	k.Former[i].Shredded = true
	return false, nil
}

// absentFrom returns the elements of xs not in ys, in xs's order.
func absentFrom(xs, ys []string) []string {
	var out []string
	for _, x := range xs {
		if !slices.Contains(ys, x) {
			out = append(out, x)
		}
	}
	return out
}
