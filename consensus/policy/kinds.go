package policy

// CeremonyKind names one kind of dangerous change a ceremony approves.
type CeremonyKind string

// The ceremony kinds; CeremonyKinds is their one table.
const (
	KindKeyDestroy      CeremonyKind = "key-destroy"
	KindKeyPolicy       CeremonyKind = "key-policy"
	KindPolicyChange    CeremonyKind = "policy-change"
	KindOperators       CeremonyKind = "operators"
	KindTenantCreate    CeremonyKind = "tenant-create"
	KindTenantDelete    CeremonyKind = "tenant-delete"
	KindDenyRemoval     CeremonyKind = "deny-removal"
	KindUnfreeze        CeremonyKind = "unfreeze"
	KindMembership      CeremonyKind = "membership"
	KindThreshold       CeremonyKind = "threshold"
	KindProtocolUpgrade CeremonyKind = "protocol-upgrade"
)

// CeremonyKindInfo is one row of the kinds table.
type CeremonyKindInfo struct {
	Kind CeremonyKind
	// Params says what the proposal carries, Executes what the executing
	// entry does.
	Params, Executes string
	// Implemented is false for a kind whose operation does not exist yet:
	// proposing one is refused with ErrUnimplemented.
	Implemented bool
}

// CeremonyKinds is the one table of ceremony kinds (docs/AUTHORITY.md
// shows the same).
func CeremonyKinds() []CeremonyKindInfo {
	return []CeremonyKindInfo{
		{KindKeyDestroy, "key, version, delay", "schedules the version's destruction, as `kq key destroy` did (the key's own rules hold: deletion_allowed, retired or revoked, the pending delay)", true},
		{KindKeyPolicy, "key and any of deletion_allowed, min_sign_version, min_verify_version", "sets the key's policy; needed to allow deletion or lower a floor (forbidding deletion and raising floors stay instant)", true},
		{KindPolicyChange, "the policy document (canonical JSON) and its SHA-256", "replaces the policy, if it changes no operator or quorum", true},
		{KindOperators, "the policy document and its SHA-256", "replaces the policy, changing operators or quorums, at the old quorum", true},
		{KindTenantCreate, "tenant", "adds the tenant to the policy", true},
		{KindTenantDelete, "tenant, force", "deletes the tenant (its keys destroyed, or with force due for destruction): its grants and quota leave the policy, its handles are revoked, every node shreds its data-encryption key", true},
		{KindDenyRemoval, "principal", "takes the principal off the deny-list (adding to it stays instant: kq principal revoke)", true},
		{KindUnfreeze, "none", "lets the cluster sign again after kq freeze", true},
		{KindMembership, "op (add, remove, replace), the node to remove or replace, the new node's id and addresses", "starts the membership change, as kq node add|remove|replace did (one change at a time; every key keeps more holders than its threshold); the leader's reconciler then moves it on", true},
		{KindThreshold, "key, version (0: the primary), new threshold", "starts resharing the version to its reachable holders with the new threshold, as kq key reshare --threshold did (a refresh at the same threshold stays direct)", true},
		{KindProtocolUpgrade, "protocol version", "raises the active protocol version, if every member supports it; with operators listed the leader no longer raises it by itself", true},
	}
}

// KindInfo returns the kinds table's row of k; false for a kind it does
// not have.
func KindInfo(k CeremonyKind) (CeremonyKindInfo, bool) {
	for _, info := range CeremonyKinds() {
		if info.Kind == k {
			return info, true
		}
	}
	return CeremonyKindInfo{}, false
}

// CeremonyKindNames lists the kinds' names in table order.
func CeremonyKindNames() []string {
	var out []string
	for _, info := range CeremonyKinds() {
		out = append(out, string(info.Kind))
	}
	return out
}
