package commands

import "github.com/keyquorum/keyquorum/consensus/fsm/entry"

// The log's entries are package entry's: it holds their wire format, and
// this package what applying each one does (registry.go). These aliases
// keep one vocabulary for the state machine and its many callers.
type (
	CommandType = entry.CommandType
	Command     = entry.Command
	Report      = entry.Report
	Stamped     = entry.Stamped

	FrostCommitted   = entry.FrostCommitted
	FrostCommit      = entry.FrostCommit
	IssueHandle      = entry.IssueHandle
	RevokeHandle     = entry.RevokeHandle
	CreateKey        = entry.CreateKey
	ShareStored      = entry.ShareStored
	KeygenFailed     = entry.KeygenFailed
	KeyOp            = entry.KeyOp
	ChangeKey        = entry.ChangeKey
	DestroyDue       = entry.DestroyDue
	ShareDestroyed   = entry.ShareDestroyed
	ShareRefreshed   = entry.ShareRefreshed
	RefreshFailed    = entry.RefreshFailed
	SetPolicy        = entry.SetPolicy
	RevokePrincipal  = entry.RevokePrincipal
	PreParamsReady   = entry.PreParamsReady
	PresignRequested = entry.PresignRequested
	PresignReady     = entry.PresignReady
	PresignDiscarded = entry.PresignDiscarded
	NodeBooted       = entry.NodeBooted
	ClusterRecovered = entry.ClusterRecovered
	ReshareKey       = entry.ReshareKey
	SharesShredded   = entry.SharesShredded
	SignRequested    = entry.SignRequested
	SignRetry        = entry.SignRetry
	SignCompleted    = entry.SignCompleted
	SignFailed       = entry.SignFailed
	CreateTenant     = entry.CreateTenant
	DeleteTenant     = entry.DeleteTenant
	TenantShredded   = entry.TenantShredded
	AuditDenials     = entry.AuditDenials
	DenialEntry      = entry.DenialEntry
	AuditCheckpoint  = entry.AuditCheckpoint
	AttemptBlamed    = entry.AttemptBlamed
	ClearBlame       = entry.ClearBlame
	ProposeCeremony  = entry.ProposeCeremony
	ApproveCeremony  = entry.ApproveCeremony
	CancelCeremony   = entry.CancelCeremony
	Freeze           = entry.Freeze
	Unfreeze         = entry.Unfreeze
	ChangeMembers    = entry.ChangeMembers
	MemberStep       = entry.MemberStep
	RaiseProtocol    = entry.RaiseProtocol
	SetLimits        = entry.SetLimits
	NodeSettings     = entry.NodeSettings
)

// The entry types' names on the log, and the lifecycle changes of ChangeKey.
const (
	TypeFrostCommitted   = entry.TypeFrostCommitted
	TypeIssueHandle      = entry.TypeIssueHandle
	TypeRevokeHandle     = entry.TypeRevokeHandle
	TypeCreateKey        = entry.TypeCreateKey
	TypeShareStored      = entry.TypeShareStored
	TypeKeygenFailed     = entry.TypeKeygenFailed
	TypeChangeKey        = entry.TypeChangeKey
	TypeDestroyDue       = entry.TypeDestroyDue
	TypeShareDestroyed   = entry.TypeShareDestroyed
	TypeShareRefreshed   = entry.TypeShareRefreshed
	TypeRefreshFailed    = entry.TypeRefreshFailed
	OpRotate             = entry.OpRotate
	OpPromote            = entry.OpPromote
	OpRollback           = entry.OpRollback
	OpRetire             = entry.OpRetire
	OpRevoke             = entry.OpRevoke
	OpPolicy             = entry.OpPolicy
	OpDestroy            = entry.OpDestroy
	OpCancelDestroy      = entry.OpCancelDestroy
	OpRefresh            = entry.OpRefresh
	TypeSetPolicy        = entry.TypeSetPolicy
	TypeRevokePrincipal  = entry.TypeRevokePrincipal
	TypePreParamsReady   = entry.TypePreParamsReady
	TypePresignRequested = entry.TypePresignRequested
	TypePresignReady     = entry.TypePresignReady
	TypePresignDiscarded = entry.TypePresignDiscarded
	TypeNodeBooted       = entry.TypeNodeBooted
	TypeClusterRecovered = entry.TypeClusterRecovered
	TypeReshareKey       = entry.TypeReshareKey
	TypeSharesShredded   = entry.TypeSharesShredded
	TypeSignRequested    = entry.TypeSignRequested
	TypeSignRetry        = entry.TypeSignRetry
	TypeSignCompleted    = entry.TypeSignCompleted
	TypeSignFailed       = entry.TypeSignFailed
	TypeCreateTenant     = entry.TypeCreateTenant
	TypeDeleteTenant     = entry.TypeDeleteTenant
	TypeTenantShredded   = entry.TypeTenantShredded
	TypeAuditDenials     = entry.TypeAuditDenials
	TypeAuditCheckpoint  = entry.TypeAuditCheckpoint
	TypeAttemptBlamed    = entry.TypeAttemptBlamed
	TypeClearBlame       = entry.TypeClearBlame
	TypeProposeCeremony  = entry.TypeProposeCeremony
	TypeApproveCeremony  = entry.TypeApproveCeremony
	TypeCancelCeremony   = entry.TypeCancelCeremony
	TypeFreeze           = entry.TypeFreeze
	TypeUnfreeze         = entry.TypeUnfreeze
	TypeChangeMembers    = entry.TypeChangeMembers
	TypeMemberStep       = entry.TypeMemberStep
	TypeRaiseProtocol    = entry.TypeRaiseProtocol
	TypeSetLimits        = entry.TypeSetLimits
	TypeNodeSettings     = entry.TypeNodeSettings
)

// The cluster's own actors and audit key name (package entry).
const (
	ActorSupervisor = entry.ActorSupervisor
	AuditKeyName    = entry.AuditKeyName
)

// NodeActor is the actor of a member's report.
func NodeActor(id string) string { return entry.NodeActor(id) }

// IsAuditKey reports whether name is one of the audit key's names.
func IsAuditKey(name string) bool { return entry.IsAuditKey(name) }
