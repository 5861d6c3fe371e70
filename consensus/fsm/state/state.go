// Package state is the replicated state as one value: every family's
// table side by side, its snapshot form (the value as JSON), and the
// checks a restored snapshot must pass before any entry applies to it.
// The state machine changes it only through its families' rules.
package state

import (
	"errors"
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/fsm/auditchain"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/dedup"
	"github.com/keyquorum/keyquorum/consensus/fsm/freeze"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/inforce"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/settings"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/fsm/strictjson"
	"github.com/keyquorum/keyquorum/consensus/fsm/tenants"
)

// State is everything the state machine replicates; a snapshot is this
// value as JSON.
type State struct {
	Keys keys.Table `json:"keys"`
	// Records are the signing requests (package signs).
	signs.Records
	PreParams map[string]bool   `json:"preparams"`
	Presigs   pool.Presigs      `json:"presigs"`
	Boots     map[string]string `json:"boots"` // node -> its current process life
	// BootIndex is the log index of each node's last NodeBooted: a signing
	// attempt started before it lost that member's session.
	BootIndex map[string]uint64 `json:"boot_index,omitempty"`
	// Frost holds the published, unused FROST commitments by id.
	Frost   pool.Commitments `json:"frost,omitempty"`
	Handles handles.Table    `json:"handles"`
	// Table de-duplicates lifecycle requests by request id (package dedup).
	dedup.Table
	// Time is the largest command time applied; the state machine never
	// moves it back, so a leader with a slow clock cannot rewind
	// replicated time.
	Time int64 `json:"time"`
	// Audit is the audit chain's head and recent records; nil while audit
	// is off (see fsm.FSM.EnableAudit).
	Audit *auditchain.Chain `json:"audit,omitempty"`
	// Protocol is the cluster's active protocol version (0 before the
	// first RaiseProtocol: ProtocolV1); Supports holds, by member, the
	// newest version each reported at its last start.
	Protocol uint32            `json:"protocol,omitempty"`
	Supports protover.Supports `json:"supports,omitempty"`
	// Limits are the replicated limits, nil until the first SetLimits;
	// Settings holds each member's last reported settings.
	Limits   *settings.Limits `json:"limits,omitempty"`
	Settings settings.Reports `json:"settings,omitempty"`
	// Blame holds, by member, the accusations against it (package blame).
	Blame blame.Ledger `json:"blame,omitempty"`
	// Policy is the cluster policy in force, nil under the bootstrap
	// policy (package inforce).
	Policy *inforce.Record `json:"policy,omitempty"`
	// Members is the replicated membership, nil while it is the bootstrap
	// set of cluster.yaml (package membership).
	Members membership.Table `json:"members,omitempty"`
	// Ceremonies holds the kept ceremonies by id; Frozen the freeze in
	// force (packages ceremony and freeze).
	Ceremonies ceremony.Book  `json:"ceremonies,omitempty"`
	Frozen     *freeze.Frozen `json:"frozen,omitempty"`
	// Registry holds each tenant's generation and last deletion (package
	// tenants).
	tenants.Registry
}

// ActiveProtocol returns the active protocol version.
func (st *State) ActiveProtocol() uint32 { return protover.Active(st.Protocol) }

// New returns the state of an empty cluster.
func New() *State {
	return &State{Keys: keys.Table{}, Records: signs.NewRecords(), PreParams: map[string]bool{},
		Presigs: pool.Presigs{}, Boots: map[string]string{}, Frost: pool.Commitments{}, Supports: protover.Supports{}, BootIndex: map[string]uint64{},
		Settings: settings.Reports{}, Blame: blame.Ledger{}, Handles: handles.Table{}, Table: dedup.Table{Requests: map[string]*dedup.Request{}}}
}

// UnmarshalJSON decodes a snapshot's state and refuses one that applying a
// later entry would panic on: a null table or entry, or a key whose
// versions are missing or out of order. A snapshot comes from the leader;
// a corrupt one must fail fsm.FSM.Restore, not crash the replicas that install it.
func (st *State) UnmarshalJSON(data []byte) error {
	type plain State // state's fields without this method
	// A field this build does not know is refused, not dropped: a snapshot
	// from a newer protocol must stop this replica, not be half-restored.
	if err := strictjson.Decode(data, (*plain)(st)); err != nil {
		return err
	}
	if st.Protocol > protover.Max {
		return fmt.Errorf("snapshot of a cluster at protocol %d, this build supports up to %d: %w", st.Protocol, protover.Max, protover.ErrUnsupported)
	}
	if st.Supports == nil {
		st.Supports = protover.Supports{}
	}
	if st.Settings == nil {
		st.Settings = settings.Reports{}
	}
	if st.Blame == nil {
		st.Blame = blame.Ledger{}
	}
	if err := st.Blame.Check(); err != nil {
		return err
	}
	if st.BootIndex == nil {
		st.BootIndex = map[string]uint64{}
	}
	if st.Keys == nil || st.Signs == nil || st.PreParams == nil || st.Presigs == nil || st.Boots == nil ||
		st.Handles == nil || st.Requests == nil {
		return errors.New("a table is null")
	}
	if err := st.Keys.Check(); err != nil {
		return err
	}
	if err := st.Records.Check(st.Keys); err != nil {
		return err
	}
	if err := st.Presigs.Check(st.Keys); err != nil {
		return err
	}
	if st.Frost == nil {
		st.Frost = pool.Commitments{} // a snapshot from before FROST
	}
	if err := st.Frost.Check(st.Keys); err != nil {
		return err
	}
	if err := st.Members.Check(); err != nil {
		return err
	}
	if err := st.Handles.Check(); err != nil {
		return err
	}
	if err := st.Table.Check(); err != nil {
		return err
	}
	if err := st.Ceremonies.Check(); err != nil {
		return err
	}
	if err := st.Registry.Check(); err != nil {
		return err
	}
	if err := st.Policy.Check(); err != nil {
		return err
	}
	return nil
}
