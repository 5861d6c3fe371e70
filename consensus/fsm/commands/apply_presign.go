package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// presignCommands are presignatures and the member reports they depend
// on: pre-parameters and process lives.
func presignCommands() []commandSpec {
	return []commandSpec{
		spec(ProtocolV1, applyPreParamsReady, baseRecord),
		spec(ProtocolV1, applyPresignRequested, recordsPresignRequested),
		spec(ProtocolV1, applyPresignReady, baseRecord),
		spec(ProtocolV1, applyPresignDiscarded, recordsPresignDiscarded),
		spec(ProtocolV1, applyNodeBooted, baseRecord),
	}
}

// The presignature pool's types are package pool's; these names keep the
// FSM's read API (Presigs, Result.Presig) in one vocabulary for its callers.
type (
	// Presig is the replicated record of one ECDSA presignature.
	Presig = pool.Presig
	// PresigState is the lifecycle state of a presignature.
	PresigState = pool.PresigState
)

// Presignature states.
const (
	PresigPending = pool.PresigPending
	PresigReady   = pool.PresigReady
)

func applyPresignRequested(f *Machine, c *PresignRequested, index uint64) Result {
	k, ok := f.st.Keys[c.Key]
	if !ok {
		return Result{Err: fmt.Errorf("presign %q: %w", c.Key, ErrUnknownKey)}
	}
	a := pool.Ask{ID: c.ID, Committee: c.Committee, TTL: c.TTL, Index: index, Now: f.st.Time}
	p, err := f.st.Presigs.Start(k, a, f.cfg.MaxPresigsPerKey, f.presigQuota(policy.TenantOf(c.Key)))
	if err != nil {
		return Result{Err: err}
	}
	return Result{Presig: p.Clone()}
}

func applyPresignReady(f *Machine, c *PresignReady, _ uint64) Result {
	p, err := f.st.Presigs.Parked(c.ID, c.Node, c.Boot, f.st.Boots[c.Node])
	if err != nil {
		return Result{Err: err}
	}
	return Result{Presig: p.Clone()}
}

func applyPresignDiscarded(f *Machine, c *PresignDiscarded, _ uint64) Result {
	return Result{Err: f.st.Presigs.Discard(c.ID)}
}

func applyNodeBooted(f *Machine, c *NodeBooted, index uint64) Result {
	if c.Node == "" || c.Boot == "" {
		return Result{Err: fmt.Errorf("node booted: %w: node and boot are required", ErrInvalidCommand)}
	}
	f.st.Boots[c.Node] = c.Boot
	f.st.BootIndex[c.Node] = index
	f.st.Supports.Report(c.Node, c.Protocol)
	// Parked sessions and nonces live in memory only: they died with the
	// node's last process life.
	f.st.Presigs.DropMember(c.Node)
	f.st.Frost.DropMember(c.Node)
	return Result{}
}

// presigQuota returns the tenant's presigs quota, 0 when unbounded.
func (f *Machine) presigQuota(tenant string) int {
	if p := f.policy(); !p.Open {
		return p.Quotas[tenant].Presigs
	}
	return 0
}

func applyPreParamsReady(f *Machine, c *PreParamsReady, _ uint64) Result {
	f.st.PreParams[c.Node] = true
	return Result{}
}

func recordsPresignRequested(_ *Machine, c *PresignRequested, _ Result, r audit.Record) []audit.Record {
	r.Key = c.Key
	return []audit.Record{r}
}

func recordsPresignDiscarded(_ *Machine, c *PresignDiscarded, res Result, r audit.Record) []audit.Record {
	if res.Err == nil {
		r.Reason = c.Reason
	}
	return []audit.Record{r}
}
