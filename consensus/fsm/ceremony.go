package fsm

import (
	"cmp"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// ceremonyCommands propose, approve and cancel ceremonies.
func ceremonyCommands() []commandSpec {
	return []commandSpec{
		spec[ProposeCeremony](ProtocolV2),
		spec[ApproveCeremony](ProtocolV2),
		spec[CancelCeremony](ProtocolV2),
	}
}

// Operator quorum ceremonies: k-of-m signed approvals for every dangerous
// change. A ceremony is proposed (its kind, canonical params and a nonce),
// operators sign its digest with their approval keys, and the entry that
// brings the k-th valid approval executes the change in the same apply,
// atomically, after re-checking its preconditions. Every step happens at
// an entry's index under the policy in force there, and leaves evidence in
// the audit chain from which `kq ceremony verify` re-checks it offline.
//
// Once the policy lists operators, the operations of the kinds table are
// refused outside a ceremony (ceremonyGate); without operators they stay
// direct, as before ceremonies existed.

// Ceremony entries. All need protocol 2.
const (
	TypeProposeCeremony CommandType = "propose_ceremony"
	TypeApproveCeremony CommandType = "approve_ceremony"
	TypeCancelCeremony  CommandType = "cancel_ceremony"
)

// CeremonyState is where a ceremony is.
type CeremonyState string

// Ceremony states: pending until executed (or failed: quorum reached but a
// precondition no longer held, nothing executed), expired or cancelled.
const (
	CeremonyPending   CeremonyState = audit.CeremonyPending
	CeremonyExecuted  CeremonyState = audit.CeremonyExecuted
	CeremonyFailed    CeremonyState = audit.CeremonyFailed
	CeremonyExpired   CeremonyState = audit.CeremonyExpired
	CeremonyCancelled CeremonyState = audit.CeremonyCancelled
)

// Bounds of ceremonies.
const (
	// MaxCeremonyTTL and MinCeremonyTTL bound a ceremony's life.
	MaxCeremonyTTL = 7 * 24 * time.Hour
	MinCeremonyTTL = time.Second
	// DefaultCeremonyTTL is the life of a proposal that names none.
	DefaultCeremonyTTL = 24 * time.Hour
	// maxPendingCeremonies bounds pending ceremonies; maxCeremonies all
	// kept, the oldest ended ones forgotten first.
	maxPendingCeremonies = 32
	maxCeremonies        = 256
)

// Errors of ceremonies. The node maps them to gRPC codes (docs/AUTHORITY.md).
var (
	// ErrUnknownCeremony: no ceremony has this id (NOT_FOUND).
	ErrUnknownCeremony = errors.New("unknown ceremony")
	// ErrCeremonyEnded: the ceremony is executed, failed, expired or
	// cancelled (FAILED_PRECONDITION).
	ErrCeremonyEnded = fmt.Errorf("ceremony is not pending: %w", ErrBadTransition)
	// ErrCeremonyExpired: the replicated time passed expires_at
	// (FAILED_PRECONDITION).
	ErrCeremonyExpired = fmt.Errorf("ceremony expired: %w", ErrBadTransition)
	// ErrCeremonyFailed: the quorum was reached but a precondition of the
	// change no longer held; nothing executed (FAILED_PRECONDITION).
	ErrCeremonyFailed = fmt.Errorf("ceremony failed its precondition: %w", ErrBadTransition)
	// ErrAlreadyApproved: this operator approved the ceremony already
	// (ALREADY_EXISTS).
	ErrAlreadyApproved = errors.New("operator already approved this ceremony")
	// ErrNotApprover: the key is no approver of this ceremony's kind
	// (PERMISSION_DENIED).
	ErrNotApprover = fmt.Errorf("key is not in the ceremony's approver group: %w", policy.ErrPermissionDenied)
	// ErrBadApproval: the signature does not verify over this ceremony's
	// digest, e.g. one made for another ceremony (INVALID_ARGUMENT).
	ErrBadApproval = fmt.Errorf("approval signature does not verify over this ceremony's digest: %w", ErrInvalidCommand)
	// ErrCeremonyRequired: the policy lists operators, so this change
	// needs a ceremony (PERMISSION_DENIED).
	ErrCeremonyRequired = fmt.Errorf("needs an operator quorum ceremony (kq ceremony propose): %w", policy.ErrPermissionDenied)
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
	PolicyVersion uint64        `json:"policy_version"`
	CreatedIndex  uint64        `json:"created_index"`
	CreatedAt     int64         `json:"created_at"`
	ExpiresAt     int64         `json:"expires_at"`
	State         CeremonyState `json:"state"`
	EndedIndex    uint64        `json:"ended_index,omitempty"`
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
func (c *Ceremony) StateAt(now int64) CeremonyState {
	if c.State == CeremonyPending && now >= c.ExpiresAt {
		return CeremonyExpired
	}
	return c.State
}

func (c *Ceremony) clone() *Ceremony {
	d := *c
	d.Approvers = slices.Clone(c.Approvers)
	d.Approvals = slices.Clone(c.Approvals)
	return &d
}

// ProposeCeremony opens a ceremony. The proposing node picks Nonce (16
// random bytes, hex); the ceremony's id is derived from the entry's index.
type ProposeCeremony struct {
	Kind   policy.CeremonyKind `json:"kind"`
	Params string              `json:"params"`
	Nonce  string              `json:"nonce"`
	TTL    int64               `json:"ttl"` // nanoseconds
	// Context is the leader's, for the proposal's checks (not signed).
	Context *CeremonyContext `json:"context,omitempty"`
	Actor   string           `json:"actor"`
	Time    int64            `json:"time"`
}

// ApproveCeremony carries one operator's signature over a ceremony's
// digest. Whoever submits it, the approval is the key's: the FSM finds
// the operator by the public key and verifies the signature at this
// entry's index.
type ApproveCeremony struct {
	ID        string `json:"id"`
	PublicKey string `json:"public_key"`
	Signature string `json:"signature"` // hex Ed25519 signature over the digest
	// Context is the leader's, used if this approval executes the
	// ceremony (not signed: the choices the direct path's leader makes).
	Context *CeremonyContext `json:"context,omitempty"`
	Actor   string           `json:"actor"`
	Time    int64            `json:"time"`
}

// CancelCeremony ends a pending ceremony: its proposer, an operator or a
// cluster-admin may.
type CancelCeremony struct {
	ID    string `json:"id"`
	Actor string `json:"actor"`
	Time  int64  `json:"time"`
}

func (ProposeCeremony) Type() CommandType   { return TypeProposeCeremony }
func (c *ProposeCeremony) Stamp(t int64)    { c.Time = t }
func (c *ProposeCeremony) StampTime() int64 { return c.Time }
func (ApproveCeremony) Type() CommandType   { return TypeApproveCeremony }
func (c *ApproveCeremony) Stamp(t int64)    { c.Time = t }
func (c *ApproveCeremony) StampTime() int64 { return c.Time }
func (CancelCeremony) Type() CommandType    { return TypeCancelCeremony }
func (c *CancelCeremony) Stamp(t int64)     { c.Time = t }
func (c *CancelCeremony) StampTime() int64  { return c.Time }

var noncePattern = regexp.MustCompile(`^[0-9a-f]{32}$`)

// CeremonyID is the id of the ceremony proposed at a log index.
func CeremonyID(index uint64) string { return fmt.Sprintf("cer-%d", index) }

func (c *ProposeCeremony) apply(f *FSM, index uint64) Result {
	p := f.policy()
	who, err := f.ceremonyActor(c.Actor, "propose a ceremony", true)
	if err != nil {
		return Result{Err: err}
	}
	info, ok := policy.KindInfo(c.Kind)
	switch {
	case !ok:
		return Result{Err: fmt.Errorf("propose ceremony: %w: unknown kind %.40q", ErrInvalidCommand, c.Kind)}
	case !info.Implemented:
		return Result{Err: fmt.Errorf("propose %s ceremony: %w: %s", c.Kind, ErrUnimplemented, info.Executes)}
	case !p.HasOperators():
		return Result{Err: fmt.Errorf("propose %s ceremony: %w: the policy lists no operators", c.Kind, ErrBadTransition)}
	case !noncePattern.MatchString(c.Nonce):
		return Result{Err: fmt.Errorf("propose ceremony: %w: nonce must be 16 bytes in lower-case hex", ErrInvalidCommand)}
	case c.TTL < int64(MinCeremonyTTL) || c.TTL > int64(MaxCeremonyTTL):
		return Result{Err: fmt.Errorf("propose ceremony: %w: ttl must be between %s and %s", ErrInvalidCommand, MinCeremonyTTL, MaxCeremonyTTL)}
	case f.pendingCeremonies() >= maxPendingCeremonies:
		return Result{Err: fmt.Errorf("propose ceremony: %w: %d ceremonies are pending", ErrTooManyPending, maxPendingCeremonies)}
	}
	params, canon, sum, err := canonicalParams(c.Kind, c.Params)
	if err != nil {
		return Result{Err: err}
	}
	group, k := p.CeremonyRule(c.Kind)
	if doc, ok := params.(*PolicyParams); ok {
		// A document's changes need the quorum of every kind they touch.
		if next, err := f.ceremonyPolicyDoc(c.Kind, doc); err == nil {
			k = max(k, policy.ImpliedQuorum(p, next))
		}
	}
	counts := p.Ceremonies != nil && p.Ceremonies.ProposerCounts
	eligible := len(group)
	if slices.Contains(group, who) && !counts {
		eligible--
	}
	if k > eligible {
		return Result{Err: fmt.Errorf("propose %s ceremony: %w: it needs %d approvals and only %d operators other than the proposer %s may give one",
			c.Kind, ErrBadTransition, k, eligible, who)}
	}
	cer := &Ceremony{ID: CeremonyID(index), Kind: c.Kind, Params: canon, ParamsSHA256: sum, Proposer: who, Nonce: c.Nonce,
		Cluster: f.cfg.ClusterID, Quorum: k, ProposerCounts: counts, PolicyVersion: f.policyVersion(),
		CreatedIndex: index, CreatedAt: f.st.Time, ExpiresAt: f.st.Time + c.TTL, State: CeremonyPending}
	for _, name := range group {
		cer.Approvers = append(cer.Approvers, audit.Approver{Name: name, PublicKey: p.Operators[name].PublicKey})
	}
	// Refuse now what could not execute now; execution checks again.
	if _, err := f.runCeremony(index, cer, c.Context, true); err != nil {
		return Result{Err: fmt.Errorf("propose %s ceremony: %w", c.Kind, err)}
	}
	d := audit.CeremonyDigest(cer.Cluster, cer.ID, cer.Nonce, string(cer.Kind), cer.ParamsSHA256, cer.ExpiresAt)
	cer.Digest = hex.EncodeToString(d[:])
	cer.Summary = f.ceremonySummary(cer)
	f.storeCeremony(cer)
	return Result{Ceremony: cer.clone(), Note: cer.Summary}
}

func (c *ApproveCeremony) apply(f *FSM, index uint64) Result {
	if _, err := f.ceremonyActor(c.Actor, "approve a ceremony", false); err != nil {
		return Result{Err: err}
	}
	cer, ok := f.st.Ceremonies[c.ID]
	if !ok {
		return Result{Err: fmt.Errorf("approve %.40q: %w", c.ID, ErrUnknownCeremony)}
	}
	if err := f.checkPending(cer, "approve"); err != nil {
		return Result{Ceremony: cer.clone(), Err: err}
	}
	i := slices.IndexFunc(cer.Approvers, func(a audit.Approver) bool { return a.PublicKey == c.PublicKey })
	if i < 0 {
		return Result{Ceremony: cer.clone(), Err: fmt.Errorf("approve %s: %w", cer.ID, ErrNotApprover)}
	}
	op := cer.Approvers[i].Name
	if !audit.VerifyApproval(c.PublicKey, cer.Digest, c.Signature) {
		return Result{Ceremony: cer.clone(), Err: fmt.Errorf("approve %s by %s: %w", cer.ID, op, ErrBadApproval)}
	}
	if slices.ContainsFunc(cer.Approvals, func(a Approval) bool { return a.Operator == op }) {
		return Result{Ceremony: cer.clone(), Err: fmt.Errorf("approve %s by %s: %w", cer.ID, op, ErrAlreadyApproved)}
	}
	cer.Approvals = append(cer.Approvals, Approval{Operator: op, PublicKey: c.PublicKey, Signature: c.Signature,
		Index: index, Time: f.st.Time, Counted: op != cer.Proposer || cer.ProposerCounts})
	if cer.Counted() < f.executeAt(cer) {
		return Result{Ceremony: cer.clone()}
	}
	// The k-th approval: execute in this entry, or fail and execute nothing.
	cer.EndedIndex = index
	var (
		did ran
		err error
	)
	if v := f.policyVersion(); v != cer.PolicyVersion {
		err = fmt.Errorf("%w: the policy moved from v%d to v%d since the proposal", ErrBadTransition, cer.PolicyVersion, v)
	} else {
		did, err = f.runCeremony(index, cer, c.Context, false)
	}
	if h := f.Halted(); h != nil {
		return Result{Err: h} // this replica stops here (a protocol its build lacks)
	}
	cer.Params = ""
	if err != nil {
		cer.State, cer.Note = CeremonyFailed, err.Error()
		return Result{Ceremony: cer.clone(), Err: fmt.Errorf("%s %s: %w: %w", cer.Kind, cer.ID, ErrCeremonyFailed, err)}
	}
	cer.State, cer.Note = CeremonyExecuted, did.note
	res := Result{Ceremony: cer.clone(), Note: did.note, Version: did.version}
	if did.key != nil {
		res.Key = did.key.Clone()
	}
	return res
}

// executeAt is how many counted approvals execute a ceremony: its quorum.
func (f *FSM) executeAt(cer *Ceremony) int {
	if bugsCompiled && f.cfg.CeremonyUndercount {
		return cer.Quorum - 1 // the deliberate bug: one approval short
	}
	return cer.Quorum
}

func (c *CancelCeremony) apply(f *FSM, index uint64) Result {
	who, err := f.ceremonyActor(c.Actor, "cancel a ceremony", false)
	if err != nil {
		return Result{Err: err}
	}
	cer, ok := f.st.Ceremonies[c.ID]
	if !ok {
		return Result{Err: fmt.Errorf("cancel %.40q: %w", c.ID, ErrUnknownCeremony)}
	}
	p := f.policy()
	if who != cer.Proposer && !slices.ContainsFunc(cer.Approvers, func(a audit.Approver) bool { return a.Name == who }) &&
		!p.Open && !p.Holds(who, policy.RoleClusterAdmin, policy.AllTenants) {
		return Result{Err: fmt.Errorf("cancel %s: %w: only its proposer, an approver or a cluster-admin may", cer.ID, policy.ErrPermissionDenied)}
	}
	if err := f.checkPending(cer, "cancel"); err != nil {
		return Result{Ceremony: cer.clone(), Err: err}
	}
	cer.State, cer.EndedIndex, cer.Params = CeremonyCancelled, index, ""
	return Result{Ceremony: cer.clone()}
}

// checkPending refuses a ceremony that ended, and marks one whose expiry
// passed expired.
func (f *FSM) checkPending(cer *Ceremony, what string) error {
	if cer.State == CeremonyPending && f.st.Time >= cer.ExpiresAt {
		cer.State, cer.Params = CeremonyExpired, ""
		return fmt.Errorf("%s %s: %w at %s", what, cer.ID, ErrCeremonyExpired, time.Unix(0, cer.ExpiresAt).UTC().Format(time.RFC3339))
	}
	if cer.State != CeremonyPending {
		return fmt.Errorf("%s %s: %w: it is %s", what, cer.ID, ErrCeremonyEnded, cer.State)
	}
	return nil
}

// ceremonyActor returns the principal of a ceremony entry's actor, which
// must be a client not on the deny-list; to propose, it must also be an
// operator or a cluster-admin.
func (f *FSM) ceremonyActor(actor, what string, propose bool) (string, error) {
	p := f.policy()
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

func (f *FSM) pendingCeremonies() int {
	n := 0
	for _, c := range f.st.Ceremonies {
		if c.StateAt(f.st.Time) == CeremonyPending {
			n++
		}
	}
	return n
}

// storeCeremony keeps cer, forgetting the oldest ended ceremonies beyond
// maxCeremonies (their evidence stays in the audit chain).
func (f *FSM) storeCeremony(cer *Ceremony) {
	if f.st.Ceremonies == nil {
		f.st.Ceremonies = map[string]*Ceremony{}
	}
	f.st.Ceremonies[cer.ID] = cer
	for len(f.st.Ceremonies) > maxCeremonies {
		var oldest *Ceremony
		for _, c := range f.st.Ceremonies {
			if c.StateAt(f.st.Time) != CeremonyPending && (oldest == nil || c.CreatedIndex < oldest.CreatedIndex) {
				oldest = c
			}
		}
		if oldest == nil {
			return
		}
		delete(f.st.Ceremonies, oldest.ID)
	}
}

// ceremonySummary says in words what a ceremony will do, for its audit
// record and for approvers: names and numbers, never secrets.
func (f *FSM) ceremonySummary(c *Ceremony) string {
	params, _, _, err := canonicalParams(c.Kind, c.Params)
	if err != nil {
		return string(c.Kind)
	}
	switch p := params.(type) {
	case *KeyDestroyParams:
		return fmt.Sprintf("destroy %q v%d after %s", p.Key, p.Version, time.Duration(p.Delay))
	case *KeyPolicyParams:
		s := fmt.Sprintf("set policy of %q:", p.Key)
		if p.DeletionAllowed != nil {
			s += fmt.Sprintf(" deletion_allowed=%t", *p.DeletionAllowed)
		}
		if p.MinSignVersion != nil {
			s += fmt.Sprintf(" min_sign_version=%d", *p.MinSignVersion)
		}
		if p.MinVerifyVersion != nil {
			s += fmt.Sprintf(" min_verify_version=%d", *p.MinVerifyVersion)
		}
		return s
	case *PolicyParams:
		next, err := f.ceremonyPolicyDoc(c.Kind, p)
		if err != nil {
			return fmt.Sprintf("replace the policy with sha256 %s", p.SHA256)
		}
		return fmt.Sprintf("replace the policy with sha256 %s: %s", p.SHA256, policy.Diff(f.policy(), next))
	case *TenantParams:
		return fmt.Sprintf("%s %q", c.Kind, p.Tenant)
	case *PrincipalParams:
		return fmt.Sprintf("take %q off the deny-list", p.Principal)
	case *MembershipParams:
		switch {
		case p.Op == membership.Remove:
			return fmt.Sprintf("remove node %q", p.Node)
		case p.New == nil:
			return fmt.Sprintf("%s node", p.Op)
		case p.Op == membership.Replace:
			return fmt.Sprintf("replace node %q by %q (raft %s, peer %s, client %s)", p.Node, p.New.ID, p.New.Raft, p.New.Peer, p.New.Client)
		}
		return fmt.Sprintf("add node %q (raft %s, peer %s, client %s)", p.New.ID, p.New.Raft, p.New.Peer, p.New.Client)
	case *ThresholdParams:
		s := fmt.Sprintf("reshare %q", p.Key)
		if p.Version != 0 {
			s += fmt.Sprintf(" v%d", p.Version)
		}
		if k, ok := f.st.Keys[p.Key]; ok {
			s += fmt.Sprintf(": threshold %d -> %d (%d holders)", k.Threshold, p.Threshold, len(k.Members))
		}
		return s
	case *ProtocolParams:
		return fmt.Sprintf("raise the protocol %d -> %d (no downgrade after)", f.st.protocol(), p.Version)
	}
	return string(c.Kind)
}

// ceremonyGate refuses, once the policy lists operators, the direct forms
// of the changes the kinds table puts behind a ceremony, and every sign
// request while the cluster is frozen. (A direct membership change is
// refused by authorizeMembers, membership.go.)
func (f *FSM) ceremonyGate(cmd Command) error {
	switch c := cmd.(type) {
	case *SignRequested:
		if f.st.Frozen != nil && !IsAuditKey(c.Key) {
			return fmt.Errorf("sign with %q: %w since entry %d", c.Key, ErrFrozen, f.st.Frozen.Index)
		}
	case *SetPolicy:
		if f.policy().HasOperators() {
			return fmt.Errorf("set policy: %w: kind %s", ErrCeremonyRequired, f.policyKind(c.Document))
		}
	case *CreateTenant:
		if f.policy().HasOperators() {
			return fmt.Errorf("create tenant %q: %w: kind %s", c.Tenant, ErrCeremonyRequired, policy.KindTenantCreate)
		}
	case *DeleteTenant:
		if f.policy().HasOperators() {
			return fmt.Errorf("delete tenant %q: %w: kind %s", c.Tenant, ErrCeremonyRequired, policy.KindTenantDelete)
		}
	case *ReshareKey:
		// The membership reconciler's reshares keep the threshold, and a
		// refresh at the same threshold stays the key-admin's.
		k, ok := f.st.Keys[c.Key]
		if ok && !internalActor(c.Actor) && c.Threshold != k.Threshold && f.policy().HasOperators() {
			return fmt.Errorf("reshare %q to threshold %d: %w: kind %s", c.Key, c.Threshold, ErrCeremonyRequired, policy.KindThreshold)
		}
	case *RaiseProtocol:
		// The leader's automatic raise; with operators an upgrade's point
		// of no return is theirs to pass.
		if f.policy().HasOperators() {
			return fmt.Errorf("raise protocol to %d: %w: kind %s", c.Version, ErrCeremonyRequired, policy.KindProtocolUpgrade)
		}
	case *ChangeKey:
		k, ok := f.st.Keys[c.Key]
		if !ok || !f.policy().HasOperators() {
			return nil
		}
		lowers := func(p *uint32, cur uint32) bool { return p != nil && *p < cur }
		switch {
		case c.Op == OpDestroy:
			return fmt.Errorf("destroy %q: %w: kind %s", c.Key, ErrCeremonyRequired, policy.KindKeyDestroy)
		case c.Op == OpPolicy && (c.DeletionAllowed != nil && *c.DeletionAllowed && !k.DeletionAllowed ||
			lowers(c.MinSignVersion, k.MinSignVersion) || lowers(c.MinVerifyVersion, k.MinVerifyVersion)):
			return fmt.Errorf("policy of %q: allowing deletion or lowering a floor %w: kind %s", c.Key, ErrCeremonyRequired, policy.KindKeyPolicy)
		}
	}
	return nil
}

// policyKind names the ceremony kind a policy document needs: operators
// when it changes operators or quorums, deny-removal when all it changes
// is taking principals off the deny-list, else policy-change.
func (f *FSM) policyKind(doc string) policy.CeremonyKind {
	var next policy.Policy
	if strictJSON([]byte(doc), &next) != nil || next.Normalize() != nil {
		return policy.KindPolicyChange
	}
	cur := f.policy()
	if policy.ChangesCeremonies(cur, &next) {
		return policy.KindOperators
	}
	if d := cur.Clone(); slices.ContainsFunc(d.Denied, func(p string) bool { return !slices.Contains(next.Denied, p) }) {
		d.Denied = slices.Clone(next.Denied)
		if dn, nn, err := canonicalPair(d, &next); err == nil && dn == nn {
			return policy.KindDenyRemoval
		}
	}
	return policy.KindPolicyChange
}

// canonicalPair returns the hashes of a and b.
func canonicalPair(a, b *policy.Policy) (string, string, error) {
	if err := a.Normalize(); err != nil {
		return "", "", err
	}
	_, ha, err := a.Canonical()
	if err != nil {
		return "", "", err
	}
	_, hb, err := b.Canonical()
	return ha, hb, err
}

// Ceremony returns a copy of the ceremony with this id.
func (f *FSM) Ceremony(id string) (*Ceremony, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	c, ok := f.st.Ceremonies[id]
	if !ok {
		return nil, false
	}
	return c.clone(), true
}

// Ceremonies returns copies of every kept ceremony, newest first.
func (f *FSM) Ceremonies() []*Ceremony {
	f.mu.RLock()
	defer f.mu.RUnlock()
	out := make([]*Ceremony, 0, len(f.st.Ceremonies))
	for _, c := range f.st.Ceremonies {
		out = append(out, c.clone())
	}
	slices.SortFunc(out, func(a, b *Ceremony) int { return cmp.Compare(b.CreatedIndex, a.CreatedIndex) })
	return out
}

// ReplicatedTime returns the replicated time this replica has applied.
func (f *FSM) ReplicatedTime() int64 {
	f.mu.RLock()
	defer f.mu.RUnlock()
	return f.st.Time
}

// ceremonyEvidence is what every ceremony record says of the ceremony.
// Accepted proposals and approvals add the rest of what an offline
// verifier needs (audit.VerifyCeremony); a refusal's record carries its
// reason alone.
func ceremonyEvidence(cer *Ceremony) *audit.Ceremony {
	return &audit.Ceremony{ID: cer.ID, Digest: cer.Digest, State: string(cer.State), Counted: uint32(cer.Counted())}
}

func (c *ProposeCeremony) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op = audit.OpCeremonyPropose
	if cer := res.Ceremony; res.Err == nil && cer != nil {
		e := ceremonyEvidence(cer)
		e.Kind, e.Cluster, e.Nonce, e.ParamsSHA256, e.ExpiresAt = string(cer.Kind), cer.Cluster, cer.Nonce, cer.ParamsSHA256, cer.ExpiresAt
		e.Quorum, e.Proposer, e.ProposerCounts, e.Approvers = uint32(cer.Quorum), cer.Proposer, cer.ProposerCounts, cer.Approvers
		r.RequestID, r.Ceremony = cer.ID, e
	}
	return []audit.Record{r}
}

func (c *ApproveCeremony) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op, r.RequestID = audit.OpCeremonyApprove, c.ID
	// An approval that reached the quorum is evidence whether the change
	// then executed or failed its precondition.
	if cer := res.Ceremony; cer != nil && (res.Err == nil || errors.Is(res.Err, ErrCeremonyFailed)) {
		a := cer.Approvals[len(cer.Approvals)-1]
		e := ceremonyEvidence(cer)
		e.Operator, e.PublicKey, e.Signature = a.Operator, a.PublicKey, a.Signature
		r.Ceremony = e
		if cer.State == CeremonyFailed {
			r.Outcome, r.Reason = audit.OutcomeFailed, cer.Note
		}
		if res.Key != nil {
			r.Key = res.Key.Name
		}
	}
	return []audit.Record{r}
}

func (c *CancelCeremony) records(_ *FSM, res Result, r audit.Record) []audit.Record {
	r = noteRecord(r, c.Actor, res)
	r.Op, r.RequestID = audit.OpCeremonyCancel, c.ID
	if cer := res.Ceremony; res.Err == nil && cer != nil {
		r.Ceremony = ceremonyEvidence(cer)
	}
	return []audit.Record{r}
}
