package fsm

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// reshareCommands move a key's shares to new holders or a new threshold,
// and let the former holders report their old shares shredded.
func reshareCommands() []commandSpec {
	return []commandSpec{
		spec[ReshareKey](ProtocolV2),
		spec[SharesShredded](ProtocolV2),
	}
}

// Resharing moves a key version to new shares of the same public key, dealt
// by any threshold+1 current holders: to other holders (a member left out
// because it is dead or leaving, a member joining) and to another
// threshold. It is a refresh (Version.Refresh) whose new holders and
// threshold are named; the key switches to them only when every new holder
// confirmed its share (ShareRefreshed), so a reshare that cannot finish
// changes nothing. Holders a reshare left out become the key's Former
// holders until each reports it shredded its share files (SharesShredded);
// the new shares come from a new polynomial, so the old ones are useless
// either way.
//
// A key's holders and threshold are the key's, not a version's: a reshare
// that changes them is refused while another version of the key could sign
// or is being generated or refreshed (promote and retire first).

// Commands of resharing.
const (
	// TypeReshareKey starts a reshare of a key version.
	TypeReshareKey CommandType = "reshare_key"
	// TypeSharesShredded reports that a former holder shredded its shares.
	TypeSharesShredded CommandType = "shares_shredded"
)

// ReshareKey reshares a version of Key (0: the primary) to Members with
// Threshold, dealt by Committee: exactly threshold+1 current holders the
// leader reaches. Members are chosen by the leader (the live holders for a
// refresh, the cluster's holders for a membership change); Threshold by the
// client, or the key's.
type ReshareKey struct {
	RequestID string   `json:"request_id"`
	Key       string   `json:"key"`
	Version   uint32   `json:"version,omitempty"`
	Members   []string `json:"members"`
	Threshold int      `json:"threshold"`
	Committee []string `json:"committee"`
	// Reason says why the holders change, for the audit trail.
	Reason string `json:"reason,omitempty"`
	Actor  string `json:"actor"`
	// ActorSerial is the serial number (lower-case hex) of the client
	// certificate the request came with, for the deny-list by serial.
	ActorSerial string `json:"actor_serial,omitempty"`
	Time        int64  `json:"time"`
}

// SharesShredded reports that Node, a former holder of Key, deleted every
// share file it had of the key.
type SharesShredded struct {
	Key  string `json:"key"`
	Node string `json:"node"`
}

func (ReshareKey) Type() CommandType      { return TypeReshareKey }
func (c *ReshareKey) Stamp(t int64)       { c.Time = t }
func (c *ReshareKey) StampTime() int64    { return c.Time }
func (SharesShredded) Type() CommandType  { return TypeSharesShredded }
func (c SharesShredded) Reporter() string { return c.Node }

// reshareInput hashes what the client chose: the leader's pick of holders
// and dealers is not part of it, so a retry through another leader that
// sees other members alive is still the same request.
func reshareInput(c *ReshareKey) [32]byte {
	return hashInput("reshare", c.Key, strconv.FormatUint(uint64(c.Version), 10), strconv.Itoa(c.Threshold))
}

func (c *ReshareKey) apply(f *FSM, index uint64) Result {
	input := reshareInput(c)
	if _, res, done := f.dedup(c.RequestID, string(TypeReshareKey), input); done {
		return res
	}
	if c.RequestID == "" {
		return Result{Err: fmt.Errorf("reshare %q: %w: request id is required", c.Key, ErrInvalidCommand)}
	}
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("reshare %q: %w", c.Key, ErrUnknownKey)}
	}
	v, note, err := f.startReshare(index, k, c)
	if err != nil {
		return Result{Err: fmt.Errorf("reshare %q: %w", c.Key, err)}
	}
	f.remember(index, &Request{ID: c.RequestID, Op: string(TypeReshareKey), Input: input, Key: k.Name, Version: v})
	return Result{Key: k.clone(), Version: v, Note: note}
}

// startReshare checks a reshare against the key and starts it; it changes
// nothing when it returns an error.
func (f *FSM) startReshare(index uint64, k *Key, c *ReshareKey) (uint32, string, error) {
	v, err := pick(k, c.Version, k.Primary)
	switch {
	case err != nil:
		return 0, "", err
	case !v.State.CanSign():
		return 0, "", fmt.Errorf("%w: v%d is %s; only a staged or active version is reshared", ErrBadTransition, v.Number, v.State)
	case v.Refresh != nil:
		return 0, "", fmt.Errorf("%w: v%d is already being refreshed", ErrBadTransition, v.Number)
	case len(c.Members) == 0 || hasDuplicates(c.Members):
		return 0, "", fmt.Errorf("%w: new holders must be distinct and at least one", ErrInvalidCommand)
	case c.Threshold < 1 || c.Threshold >= len(c.Members):
		return 0, "", fmt.Errorf("%w: threshold %d for %d holders: need 1 <= threshold < holders", ErrInvalidCommand, c.Threshold, len(c.Members))
	}
	for _, m := range c.Members {
		if !f.mayHold(k, m) {
			return 0, "", fmt.Errorf("%w: %s is neither a holder of %q nor a cluster member that may hold them", ErrInvalidCommand, m, k.Name)
		}
	}
	members := slices.Sorted(slices.Values(c.Members))
	same := slices.Equal(members, k.Members) && c.Threshold == k.Threshold
	if !same {
		// Holders and threshold are the key's: no other version may still
		// sign with, or be building, shares of the old holders.
		for _, o := range k.Versions {
			if o.Number != v.Number && (o.State.CanSign() || o.State == KeyGenerating || o.Refresh != nil) {
				return 0, "", fmt.Errorf("%w: v%d is %s; a key's holders and threshold change only while one version signs (promote and retire first)", ErrBadTransition, o.Number, o.State)
			}
		}
	}
	if err := CheckCommittee(k, c.Committee); err != nil {
		return 0, "", err
	}
	if err := f.checkPreParams(k.Algorithm, members); err != nil {
		return 0, "", err
	}
	r := &Refresh{Epoch: v.Epoch + 1, Index: index, Started: f.st.Time, RequestID: c.RequestID, Committee: slices.Clone(c.Committee)}
	note := fmt.Sprintf("v%d epoch %d -> %d, dealt by %v", v.Number, v.Epoch, r.Epoch, c.Committee)
	if !same {
		r.Members, r.Threshold = members, c.Threshold
		note += fmt.Sprintf("; holders %v -> %v, threshold %d -> %d", k.Members, members, k.Threshold, c.Threshold)
		if left := absentFrom(k.Members, members); len(left) > 0 {
			note += fmt.Sprintf("; %v left out: their shares are useless once the new ones are confirmed", left)
		}
	}
	if c.Reason != "" {
		note += " (" + c.Reason + ")"
	}
	v.Refresh = r
	return v.Number, note, nil
}

// mayHold reports whether node may receive shares of k: a current holder,
// a member keys are reshared to (membership.go), or, while the membership
// is the bootstrap set, a holder a refresh left out.
func (f *FSM) mayHold(k *Key, node string) bool {
	switch {
	case k.HasMember(node):
		return true
	case f.st.Members != nil:
		return f.holdsShares(node)
	}
	return slices.ContainsFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == node })
}

// switchHolders makes a finished refresh's holders and threshold the
// key's, and records the holders it left out as former ones.
func (f *FSM) switchHolders(index uint64, k *Key, r *Refresh) {
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

func (c *SharesShredded) apply(f *FSM, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("shares shredded %q: %w", c.Key, ErrUnknownKey)}
	}
	i := slices.IndexFunc(k.Former, func(fh *FormerHolder) bool { return fh.Node == c.Node })
	switch {
	case i < 0:
		return Result{Err: fmt.Errorf("shares of %q shredded by %s: %w: not a former holder", c.Key, c.Node, ErrStale)}
	case k.Former[i].Shredded:
		return Result{Key: k.clone(), Duplicate: true}
	}
	k.Former[i].Shredded = true
	return Result{Key: k.clone(), Note: fmt.Sprintf("%s shredded its shares of %q", c.Node, c.Key)}
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

// FormerUnshredded returns the keys of which node is a former holder that
// has not reported shredding its shares, sorted.
func (f *FSM) FormerUnshredded(node string) []string {
	f.mu.RLock()
	defer f.mu.RUnlock()
	var out []string
	for name, k := range f.st.Keys {
		for _, fh := range k.Former {
			if fh.Node == node && !fh.Shredded {
				out = append(out, name)
			}
		}
	}
	slices.Sort(out)
	return out
}

func (c *ReshareKey) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_reshare", c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
	if res.Err == nil {
		r.Reason = res.Note
	}
	return []audit.Record{r}
}

func (c *SharesShredded) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r.Actor, r.Key, r.Reason = NodeActor(c.Node), c.Key, res.Note
	return []audit.Record{r}
}
