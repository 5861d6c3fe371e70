package commands

import (
	"fmt"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// presignCommands are presignatures and the member reports they depend
// on: pre-parameters and process lives.
func presignCommands() []commandSpec {
	return []commandSpec{
		spec(protover.V1, applyPreParamsReady, baseRecord),
		spec(protover.V1, applyPresignRequested, recordsPresignRequested),
		spec(protover.V1, applyPresignReady, baseRecord),
		spec(protover.V1, applyPresignDiscarded, recordsPresignDiscarded),
		spec(protover.V1, applyNodeBooted, baseRecord),
	}
}

func applyPresignRequested(f *Machine, c *entry.PresignRequested, index uint64) Result {
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

func applyPresignReady(f *Machine, c *entry.PresignReady, _ uint64) Result {
	p, err := f.st.Presigs.Parked(c.ID, c.Node, c.Boot, f.st.Boots[c.Node])
	if err != nil {
		return Result{Err: err}
	}
	return Result{Presig: p.Clone()}
}

func applyPresignDiscarded(f *Machine, c *entry.PresignDiscarded, _ uint64) Result {
	return Result{Err: f.st.Presigs.Discard(c.ID)}
}

func applyNodeBooted(f *Machine, c *entry.NodeBooted, index uint64) Result {
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

func applyPreParamsReady(f *Machine, c *entry.PreParamsReady, _ uint64) Result {
	f.st.PreParams[c.Node] = true
	return Result{}
}

func recordsPresignRequested(_ *Machine, c *entry.PresignRequested, _ Result, r audit.Record) []audit.Record {
	r.Key = c.Key
	return []audit.Record{r}
}

func recordsPresignDiscarded(_ *Machine, c *entry.PresignDiscarded, res Result, r audit.Record) []audit.Record {
	if res.Err == nil {
		r.Reason = c.Reason
	}
	return []audit.Record{r}
}
