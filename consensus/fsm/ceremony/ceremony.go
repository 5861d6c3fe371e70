// Package ceremony is the replicated book of operator quorum ceremonies:
// k-of-m signed approvals for every dangerous change.
//
// A ceremony is proposed (its kind, canonical params and a nonce),
// operators sign its digest with their approval keys, and the entry that
// brings the k-th valid approval executes the change in the same apply,
// atomically, after re-checking its preconditions. Every step happens at
// an entry's index under the policy in force there, and leaves evidence in
// the audit chain from which `kq ceremony verify` re-checks it offline.
//
// Once the policy lists operators, the operations of the kinds table are
// refused outside a ceremony (ErrRequired, the state machine's gate);
// without operators they stay direct, as before ceremonies existed.
//
// This package holds a ceremony's record and its rules: who may propose,
// approve and cancel, the quorum and who counts towards it, the digest
// approvers sign, expiry, the params of each kind and their canonical
// form, and the bounds of the book. What an executed ceremony does is the
// state machine's, which runs the change of each kind through the same
// path as its direct entry. The package is pure: time is the replicated
// time the caller passes in.
package ceremony

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// State is where a ceremony is.
type State string

// Ceremony states: pending until executed (or failed: quorum reached but a
// precondition no longer held, nothing executed), expired or cancelled.
const (
	Pending   State = audit.CeremonyPending
	Executed  State = audit.CeremonyExecuted
	Failed    State = audit.CeremonyFailed
	Expired   State = audit.CeremonyExpired
	Cancelled State = audit.CeremonyCancelled
)

// Bounds of ceremonies.
const (
	// MaxTTL and MinTTL bound a ceremony's life.
	MaxTTL = 7 * 24 * time.Hour
	MinTTL = time.Second
	// DefaultTTL is the life of a proposal that names none.
	DefaultTTL = 24 * time.Hour
	// maxPending bounds pending ceremonies; maxKept all kept, the oldest
	// ended ones forgotten first.
	maxPending = 32
	maxKept    = 256
)

// Errors of ceremonies. The node maps them to gRPC codes (docs/AUTHORITY.md).
var (
	// ErrUnknown: no ceremony has this id (NOT_FOUND).
	ErrUnknown = errors.New("unknown ceremony")
	// ErrEnded: the ceremony is executed, failed, expired or cancelled
	// (FAILED_PRECONDITION).
	ErrEnded = fmt.Errorf("ceremony is not pending: %w", fsmerr.ErrBadTransition)
	// ErrExpired: the replicated time passed expires_at
	// (FAILED_PRECONDITION).
	ErrExpired = fmt.Errorf("ceremony expired: %w", fsmerr.ErrBadTransition)
	// ErrFailed: the quorum was reached but a precondition of the change
	// no longer held; nothing executed (FAILED_PRECONDITION).
	ErrFailed = fmt.Errorf("ceremony failed its precondition: %w", fsmerr.ErrBadTransition)
	// ErrAlreadyApproved: this operator approved the ceremony already
	// (ALREADY_EXISTS).
	ErrAlreadyApproved = errors.New("operator already approved this ceremony")
	// ErrNotApprover: the key is no approver of this ceremony's kind
	// (PERMISSION_DENIED).
	ErrNotApprover = fmt.Errorf("key is not in the ceremony's approver group: %w", policy.ErrPermissionDenied)
	// ErrBadApproval: the signature does not verify over this ceremony's
	// digest, e.g. one made for another ceremony (INVALID_ARGUMENT).
	ErrBadApproval = fmt.Errorf("approval signature does not verify over this ceremony's digest: %w", fsmerr.ErrInvalidCommand)
	// ErrRequired: the policy lists operators, so this change needs a
	// ceremony (PERMISSION_DENIED).
	ErrRequired = fmt.Errorf("needs an operator quorum ceremony (kq ceremony propose): %w", policy.ErrPermissionDenied)
	// ErrUnimplemented is returned for a ceremony kind whose operation
	// does not exist in this build yet.
	ErrUnimplemented = errors.New("not implemented")
)

// Ceremony is the replicated record of one ceremony.
type Ceremony struct {
	ID   string              `json:"id"`
	Kind policy.CeremonyKind `json:"kind"`
	// Params is the canonical JSON of the kind's params; it is dropped
	// once the ceremony ends, ParamsSHA256 stays.
	Params       string `json:"params,omitempty"`
	ParamsSHA256 string `json:"params_sha256"`
	// Summary says in words what execution will do (for a policy change,
	// the diff against the policy the proposal was made under).
	Summary  string `json:"summary"`
	Proposer string `json:"proposer"` // principal name
	Nonce    string `json:"nonce"`
	Cluster  string `json:"cluster"`
	Digest   string `json:"digest"` // hex; what approvers sign
	Quorum   int    `json:"quorum"`
	// ProposerCounts says whether the proposer's own approval counts.
	ProposerCounts bool `json:"proposer_counts,omitempty"`
	// Approvers is the approver group with their keys, as the policy in
	// force at the proposal listed them.
	Approvers []audit.Approver `json:"approvers"`
	Approvals []Approval       `json:"approvals,omitempty"`
	// PolicyVersion is the policy the proposal was made under; a ceremony
	// executes only while it is still in force.
	PolicyVersion uint64 `json:"policy_version"`
	CreatedIndex  uint64 `json:"created_index"`
	CreatedAt     int64  `json:"created_at"`
	ExpiresAt     int64  `json:"expires_at"`
	State         State  `json:"state"`
	EndedIndex    uint64 `json:"ended_index,omitempty"`
	// Note says what execution did, or why the ceremony failed.
	Note string `json:"note,omitempty"`
}

// Approval is one operator's accepted approval.
type Approval struct {
	Operator  string `json:"operator"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"` // hex
	Index     uint64 `json:"index"`
	Time      int64  `json:"time"`
	Counted   bool   `json:"counted"`
}

// Counted returns how many approvals count towards the quorum.
func (c *Ceremony) Counted() int {
	n := 0
	for _, a := range c.Approvals {
		if a.Counted {
			n++
		}
	}
	return n
}

// StateAt is the ceremony's state as of replicated time now: a pending
// ceremony past its expiry reads expired even before an entry marks it.
func (c *Ceremony) StateAt(now int64) State {
	if c.State == Pending && now >= c.ExpiresAt {
		return Expired
	}
	return c.State
}

// Clone returns a deep copy of c.
func (c *Ceremony) Clone() *Ceremony {
	d := *c
	d.Approvers = slices.Clone(c.Approvers)
	d.Approvals = slices.Clone(c.Approvals)
	return &d
}

// ID is the id of the ceremony proposed at a log index.
func ID(index uint64) string { return fmt.Sprintf("cer-%d", index) }

// Actor returns the principal of a ceremony entry's actor, which must be
// a client not on the deny-list of p; to propose, it must also be an
// operator or a cluster-admin.
func Actor(p *policy.Policy, actor, what string, propose bool) (string, error) {
	who, ok := policy.PrincipalOf(actor)
	if !ok {
		return "", fmt.Errorf("%s: %w (%s)", what, policy.ErrPermissionDenied, policy.ReasonNotClient)
	}
	if slices.Contains(p.Denied, who) {
		return "", fmt.Errorf("%s: %w (%s)", what, policy.ErrPermissionDenied, policy.ReasonPrincipalDenied)
	}
	if _, operator := p.Operators[who]; propose && !operator && !p.Open && !p.Holds(who, policy.RoleClusterAdmin, policy.AllTenants) {
		return "", fmt.Errorf("%s: %w: %s is neither an operator nor a cluster-admin", what, policy.ErrPermissionDenied, who)
	}
	return who, nil
}

var noncePattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// Proposal is what a proposal entry asks for and where it applies.
type Proposal struct {
	Kind     policy.CeremonyKind
	Params   string
	Nonce    string
	TTL      int64 // nanoseconds
	Proposer string
	// Cluster, Index, Now and PolicyVersion are the cluster's id, the
	// entry's index, the replicated time and the policy version in force.
	Cluster       string
	Index         uint64
	Now           int64
	PolicyVersion uint64
}

// Draft checks a proposal under the policy p in force and against the
// pending ceremonies of the book, and returns its ceremony, digest set,
// with the params decoded. The quorum is the kind's, raised, for a policy
// document (next decodes one), to that of every kind the document
// touches; it must not exceed the operators other than the proposer who
// may approve (the proposer too when its approval counts). The caller
// checks that the change could run now before it stores the ceremony.
func (b Book) Draft(p *policy.Policy, pr Proposal, next func(*PolicyParams) (*policy.Policy, error)) (*Ceremony, any, error) {
	info, ok := policy.KindInfo(pr.Kind)
	switch {
	case !ok:
		return nil, nil, fmt.Errorf("propose ceremony: %w: unknown kind %.40q", fsmerr.ErrInvalidCommand, pr.Kind)
	case !info.Implemented:
		return nil, nil, fmt.Errorf("propose %s ceremony: %w: %s", pr.Kind, ErrUnimplemented, info.Executes)
	case !p.HasOperators():
		return nil, nil, fmt.Errorf("propose %s ceremony: %w: the policy lists no operators", pr.Kind, fsmerr.ErrBadTransition)
	case !noncePattern.MatchString(pr.Nonce):
		return nil, nil, fmt.Errorf("propose ceremony: %w: nonce must be 16 bytes in lower-case hex", fsmerr.ErrInvalidCommand)
	case pr.TTL < int64(MinTTL) || pr.TTL > int64(MaxTTL):
		return nil, nil, fmt.Errorf("propose ceremony: %w: ttl must be between %s and %s", fsmerr.ErrInvalidCommand, MinTTL, MaxTTL)
	case b.pending(pr.Now) >= maxPending:
		return nil, nil, fmt.Errorf("propose ceremony: %w: %d ceremonies are pending", policy.ErrTooManyPending, maxPending)
	}
	params, canon, sum, err := ParseParams(pr.Kind, pr.Params)
	if err != nil {
		return nil, nil, err
	}
	group, k := p.CeremonyRule(pr.Kind)
	if doc, ok := params.(*PolicyParams); ok {
		// A document's changes need the quorum of every kind they touch.
		if n, err := next(doc); err == nil {
			k = max(k, policy.ImpliedQuorum(p, n))
		}
	}
	counts := p.Ceremonies != nil && p.Ceremonies.ProposerCounts
	eligible := len(group)
	if slices.Contains(group, pr.Proposer) && !counts {
		eligible--
	}
	if k > eligible {
		return nil, nil, fmt.Errorf("propose %s ceremony: %w: it needs %d approvals and only %d operators other than the proposer %s may give one",
			pr.Kind, fsmerr.ErrBadTransition, k, eligible, pr.Proposer)
	}
	cer := &Ceremony{ID: ID(pr.Index), Kind: pr.Kind, Params: canon, ParamsSHA256: sum, Proposer: pr.Proposer, Nonce: pr.Nonce,
		Cluster: pr.Cluster, Quorum: k, ProposerCounts: counts, PolicyVersion: pr.PolicyVersion,
		CreatedIndex: pr.Index, CreatedAt: pr.Now, ExpiresAt: pr.Now + pr.TTL, State: Pending}
	for _, name := range group {
		cer.Approvers = append(cer.Approvers, audit.Approver{Name: name, PublicKey: p.Operators[name].PublicKey})
	}
	d := audit.CeremonyDigest(cer.Cluster, cer.ID, cer.Nonce, string(cer.Kind), cer.ParamsSHA256, cer.ExpiresAt)
	cer.Digest = hex.EncodeToString(d[:])
	return cer, params, nil
}

// CheckPending refuses a ceremony that ended, and marks one whose expiry
// passed at now expired. what names the step, for the error.
func (c *Ceremony) CheckPending(what string, now int64) error {
	if c.State == Pending && now >= c.ExpiresAt {
		c.State, c.Params = Expired, ""
		return fmt.Errorf("%s %s: %w at %s", what, c.ID, ErrExpired, time.Unix(0, c.ExpiresAt).UTC().Format(time.RFC3339))
	}
	if c.State != Pending {
		return fmt.Errorf("%s %s: %w: it is %s", what, c.ID, ErrEnded, c.State)
	}
	return nil
}

// Approve records, at index and replicated time now, the approval of the
// approver whose key is pub: sig must verify over the digest, and each
// operator approves once. The proposer's approval counts only when the
// policy said so at the proposal.
func (c *Ceremony) Approve(pub, sig string, index uint64, now int64) error {
	if err := c.CheckPending("approve", now); err != nil {
		return err
	}
	i := slices.IndexFunc(c.Approvers, func(a audit.Approver) bool { return a.PublicKey == pub })
	if i < 0 {
		return fmt.Errorf("approve %s: %w", c.ID, ErrNotApprover)
	}
	op := c.Approvers[i].Name
	if !audit.VerifyApproval(pub, c.Digest, sig) {
		return fmt.Errorf("approve %s by %s: %w", c.ID, op, ErrBadApproval)
	}
	if slices.ContainsFunc(c.Approvals, func(a Approval) bool { return a.Operator == op }) {
		return fmt.Errorf("approve %s by %s: %w", c.ID, op, ErrAlreadyApproved)
	}
	c.Approvals = append(c.Approvals, Approval{Operator: op, PublicKey: pub, Signature: sig,
		Index: index, Time: now, Counted: op != c.Proposer || c.ProposerCounts})
	return nil
}

// Finish ends a ceremony whose quorum was reached at index: executed with
// the note of what it did, or failed, nothing executed, when the change
// returned err. The params are dropped either way. The error returned
// wraps ErrFailed and err.
func (c *Ceremony) Finish(index uint64, note string, err error) error {
	c.EndedIndex, c.Params = index, ""
	if err != nil {
		c.State, c.Note = Failed, err.Error()
		return fmt.Errorf("%s %s: %w: %w", c.Kind, c.ID, ErrFailed, err)
	}
	c.State, c.Note = Executed, note
	return nil
}

// MayCancel refuses a cancel by who unless who proposed the ceremony, is
// one of its approvers, or is a cluster-admin under p.
func (c *Ceremony) MayCancel(p *policy.Policy, who string) error {
	if who != c.Proposer && !slices.ContainsFunc(c.Approvers, func(a audit.Approver) bool { return a.Name == who }) &&
		!p.Open && !p.Holds(who, policy.RoleClusterAdmin, policy.AllTenants) {
		return fmt.Errorf("cancel %s: %w: only its proposer, an approver or a cluster-admin may", c.ID, policy.ErrPermissionDenied)
	}
	return nil
}

// Cancel ends a pending ceremony at index.
func (c *Ceremony) Cancel(index uint64, now int64) error {
	if err := c.CheckPending("cancel", now); err != nil {
		return err
	}
	c.State, c.EndedIndex, c.Params = Cancelled, index, ""
	return nil
}

// Evidence is what every ceremony record says of the ceremony. Accepted
// proposals and approvals add the rest of what an offline verifier needs
// (audit.VerifyCeremony); a refusal's record carries its reason alone.
func (c *Ceremony) Evidence() *audit.Ceremony {
	return &audit.Ceremony{ID: c.ID, Digest: c.Digest, State: string(c.State), Counted: uint32(c.Counted())}
}

// ProposalEvidence is the evidence of an accepted proposal: everything
// the digest covers, the quorum and the approver group.
func (c *Ceremony) ProposalEvidence() *audit.Ceremony {
	e := c.Evidence()
	e.Kind, e.Cluster, e.Nonce, e.ParamsSHA256, e.ExpiresAt = string(c.Kind), c.Cluster, c.Nonce, c.ParamsSHA256, c.ExpiresAt
	e.Quorum, e.Proposer, e.ProposerCounts, e.Approvers = uint32(c.Quorum), c.Proposer, c.ProposerCounts, c.Approvers
	return e
}

// ApprovalEvidence is the evidence of the last accepted approval: the
// operator, its key and its signature over the digest.
func (c *Ceremony) ApprovalEvidence() *audit.Ceremony {
	a := c.Approvals[len(c.Approvals)-1]
	e := c.Evidence()
	e.Operator, e.PublicKey, e.Signature = a.Operator, a.PublicKey, a.Signature
	return e
}

// Book is the replicated table of kept ceremonies by id; nil before the
// first proposal. It is a map, so a snapshot holds it exactly as the
// table it replaced.
type Book map[string]*Ceremony

// Check refuses a book decoded from a snapshot with a null ceremony.
func (b Book) Check() error {
	for id, c := range b {
		if c == nil {
			return fmt.Errorf("ceremony %q is null", id)
		}
	}
	return nil
}

// pending counts the ceremonies pending at now.
func (b Book) pending(now int64) int {
	n := 0
	for _, c := range b {
		if c.StateAt(now) == Pending {
			n++
		}
	}
	return n
}

// Store keeps c, forgetting the oldest ceremonies ended at now beyond
// maxKept (their evidence stays in the audit chain).
func (b *Book) Store(c *Ceremony, now int64) {
	if *b == nil {
		*b = Book{}
	}
	(*b)[c.ID] = c
	for len(*b) > maxKept {
		var oldest *Ceremony
		for _, o := range *b {
			if o.StateAt(now) != Pending && (oldest == nil || o.CreatedIndex < oldest.CreatedIndex) {
				oldest = o
			}
		}
		if oldest == nil {
			return
		}
		delete(*b, oldest.ID)
	}
}

// Get returns a copy of the ceremony with this id.
func (b Book) Get(id string) (*Ceremony, bool) {
	c, ok := b[id]
	if !ok {
		return nil, false
	}
	return c.Clone(), true
}

// List returns copies of every kept ceremony, newest first.
func (b Book) List() []*Ceremony {
	out := make([]*Ceremony, 0, len(b))
	for _, c := range b {
		out = append(out, c.Clone())
	}
	slices.SortFunc(out, func(x, y *Ceremony) int { return cmp.Compare(y.CreatedIndex, x.CreatedIndex) })
	return out
}
