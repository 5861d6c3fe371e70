package commands

import (
	"fmt"
	"strconv"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
)

// reshareCommands move a key's shares to new holders or a new threshold,
// and let the former holders report their old shares shredded.
func reshareCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V2, applyReshareKey, recordsReshareKey),
		spec(protover.V2, applySharesShredded, recordsSharesShredded),
	}
}

// Resharing is a refresh of a key version whose new holders and threshold
// are named; package keys holds its rules (keys.Key.Reshare).

// reshareInput hashes what the client chose: the leader's pick of holders
// and dealers is not part of it, so a retry through another leader that
// sees other members alive is still the same request.
func reshareInput(c *entry.ReshareKey) [32]byte {
	return dedup.HashInput("reshare", c.Key, strconv.FormatUint(uint64(c.Version), 10), strconv.Itoa(c.Threshold))
}

func applyReshareKey(f *Machine, c *entry.ReshareKey, index uint64) Result {
	input := reshareInput(c)
	if _, res, done := f.dedup(c.RequestID, string(entry.TypeReshareKey), input); done {
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
	f.remember(index, &dedup.Request{ID: c.RequestID, Op: string(entry.TypeReshareKey), Input: input, Key: k.Name, Version: v})
	return Result{Key: k.Clone(), Version: v, Note: note}
}

// startReshare starts the reshare c of k: the entry and a threshold
// ceremony both run it.
func (f *Machine) startReshare(index uint64, k *keys.Key, c *entry.ReshareKey) (uint32, string, error) {
	r := &keys.Reshare{RequestID: c.RequestID, Version: c.Version, Members: c.Members, Threshold: c.Threshold, Committee: c.Committee, Reason: c.Reason}
	return k.Reshare(f.at(index), r, func(node string) bool { return f.mayHold(k, node) }, f.st.PreParams)
}

// mayHold reports whether node, no holder of k, may receive its shares: a
// member keys are reshared to (membership.go), or, while the membership
// is the bootstrap set, a holder a refresh left out.
func (f *Machine) mayHold(k *keys.Key, node string) bool {
	if f.st.Members != nil {
		return f.st.Members.HoldsShares(node)
	}
	return k.WasHolder(node)
}

func applySharesShredded(f *Machine, c *entry.SharesShredded, _ uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("shares shredded %q: %w", c.Key, ErrUnknownKey)}
	}
	dup, err := k.ShredFormer(c.Node)
	switch {
	case err != nil:
		return Result{Err: err}
	case dup:
		return Result{Key: k.Clone(), Duplicate: true}
	}
	return Result{Key: k.Clone(), Note: fmt.Sprintf("%s shredded its shares of %q", c.Node, c.Key)}
}

func recordsReshareKey(_ *Machine, c *entry.ReshareKey, res Result, r audit.Record) []audit.Record {
	r.Op, r.Actor, r.Key, r.RequestID, r.Version = "key_reshare", c.Actor, c.Key, c.RequestID, max(res.Version, c.Version)
	if res.Err == nil {
		r.Reason = res.Note
	}
	return []audit.Record{r}
}

func recordsSharesShredded(_ *Machine, c *entry.SharesShredded, res Result, r audit.Record) []audit.Record {
	r.Key, r.Reason = c.Key, res.Note
	return []audit.Record{r}
}
