package commands

import (
	"fmt"
	"slices"

	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

// ran is what an executed ceremony did: a note for the audit record
// (names only), and the key and version it changed, if any.
type ran struct {
	note    string
	key     *keys.Key
	version uint32
}

// runCeremony does what an executed ceremony of this kind does, or, with
// dry set, checks that it could, changing nothing. ctx is the leader's
// context of the entry (nil when it added none). Its errors are the
// preconditions of the kind.
func (f *Machine) runCeremony(index uint64, c *ceremony.Ceremony, ctx *ceremony.Context, dry bool) (ran, error) {
	params, _, _, err := ceremony.ParseParams(c.Kind, c.Params)
	if err != nil {
		return ran{}, err
	}
	if ctx == nil {
		ctx = &ceremony.Context{}
	}
	switch p := params.(type) {
	case *ceremony.KeyDestroyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return ran{}, err
		}
		if p.Version == 0 {
			return ran{}, fmt.Errorf("%w: key-destroy names no version", ErrInvalidCommand)
		}
		if _, err := k.ScheduleDestroy(p.Version, p.Delay, int64(f.cfg.MinDestroyDelay), f.st.Time); err != nil {
			return ran{}, fmt.Errorf("destroy %q v%d: %w", p.Key, p.Version, err)
		}
		return ran{note: fmt.Sprintf("%q v%d scheduled for destruction", p.Key, p.Version), key: k}, nil
	case *ceremony.KeyPolicyParams:
		k, err := f.ceremonyKey(p.Key, dry)
		if err != nil {
			return ran{}, err
		}
		if p.DeletionAllowed == nil && p.MinSignVersion == nil && p.MinVerifyVersion == nil {
			return ran{}, fmt.Errorf("%w: key-policy changes nothing", ErrInvalidCommand)
		}
		if err := k.SetFloors(0, p.MinSignVersion, p.MinVerifyVersion, p.DeletionAllowed); err != nil {
			return ran{}, fmt.Errorf("policy of %q: %w", p.Key, err)
		}
		return ran{note: fmt.Sprintf("policy of %q set", p.Key), key: k}, nil
	case *ceremony.PolicyParams:
		next, err := f.ceremonyPolicyDoc(c.Kind, p)
		if err != nil {
			return ran{}, err
		}
		return f.ceremonyInstall(index, c, next, p.SHA256, dry)
	case *ceremony.TenantParams:
		actor := "ceremony:" + c.ID
		var note string
		if c.Kind == policy.KindTenantCreate {
			note, err = f.tenantCreate(index, p.Tenant, actor, dry)
		} else {
			note, err = f.tenantDelete(index, p.Tenant, p.Force, actor, dry)
		}
		return ran{note: note}, err
	case *ceremony.PrincipalParams:
		next := f.policy().Clone()
		if !slices.Contains(next.Denied, p.Principal) {
			return ran{}, fmt.Errorf("principal %q: %w: not on the deny-list", p.Principal, ErrBadTransition)
		}
		next.Denied = slices.DeleteFunc(next.Denied, func(d string) bool { return d == p.Principal })
		return f.ceremonyInstall(index, c, next, "", dry)
	case *ceremony.NoParams: // unfreeze
		if err := f.st.Frozen.CheckLift(); err != nil {
			return ran{}, err
		}
		if !dry {
			f.st.Frozen = nil
		}
		return ran{note: "cluster unfrozen"}, nil
	case *ceremony.MembershipParams:
		note, err := f.startMembers(p.Change(ctx.Bootstrap), dry)
		return ran{note: note}, err
	case *ceremony.ThresholdParams:
		return f.ceremonyReshare(index, c, p, ctx, dry)
	case *ceremony.ProtocolParams:
		return f.ceremonyRaise(c, p, ctx, dry)
	}
	return ran{}, fmt.Errorf("%w: kind %q", ceremony.ErrUnimplemented, c.Kind)
}

// ceremonyReshare starts a threshold change: the reshare `kq key reshare
// --threshold` starts, to the holders and dealers the leader put in ctx.
// A dry run (the proposal) checks it against the key's holders.
func (f *Machine) ceremonyReshare(index uint64, c *ceremony.Ceremony, p *ceremony.ThresholdParams, ctx *ceremony.Context, dry bool) (ran, error) {
	k, err := f.ceremonyKey(p.Key, dry)
	if err != nil {
		return ran{}, err
	}
	if p.Threshold == k.Threshold {
		return ran{}, fmt.Errorf("threshold of %q: %w: it is %d already (a refresh at the same threshold needs no ceremony: kq key reshare)", p.Key, ErrBadTransition, k.Threshold)
	}
	rk := &entry.ReshareKey{RequestID: c.ID, Key: k.Name, Version: p.Version, Threshold: p.Threshold,
		Members: ctx.Holders, Committee: ctx.Committee, Reason: "ceremony " + c.ID, Actor: "ceremony:" + c.ID}
	if dry && len(rk.Members) == 0 {
		rk.Members = k.Members
		rk.Committee = k.Members[:min(len(k.Members), k.Threshold+1)]
	}
	if len(rk.Members) == 0 || len(rk.Committee) == 0 {
		return ran{}, fmt.Errorf("threshold of %q: %w: the approval carries no holders and dealers to reshare with", p.Key, ErrInvalidCommand)
	}
	v, note, err := f.startReshare(index, k, rk)
	if err != nil {
		return ran{}, fmt.Errorf("threshold of %q: %w", p.Key, err)
	}
	return ran{note: note, key: k, version: v}, nil
}

// ceremonyRaise raises the active protocol, as the leader's RaiseProtocol
// does without operators: to a version every member of the configuration
// (ctx.Members, the leader's view, as in RaiseProtocol) reported it
// supports. The checks read only replicated state, so every replica
// reaches the same verdict whatever its build.
func (f *Machine) ceremonyRaise(c *ceremony.Ceremony, p *ceremony.ProtocolParams, ctx *ceremony.Context, dry bool) (ran, error) {
	cur := f.st.ActiveProtocol()
	if err := p.Check(cur); err != nil {
		return ran{}, err
	}
	switch {
	case dry:
		return ran{}, nil
	case len(ctx.Members) == 0:
		return ran{}, fmt.Errorf("raise protocol to %d: %w: the approval names no members", p.Version, ErrInvalidCommand)
	}
	if err := f.st.Supports.CheckRaise(p.Version, ctx.Members); err != nil {
		return ran{}, err
	}
	if p.Version > protover.Max {
		// Every member reported a build that has it; this replica's does
		// not. It stops here, as it stops at the entry of an automatic
		// raise, rather than apply on under a protocol it cannot read.
		return ran{}, f.halt(fmt.Errorf("consensus: ceremony %s raises the protocol to %d, this build supports up to %d: %w", c.ID, p.Version, protover.Max, protover.ErrUnsupported))
	}
	f.st.Protocol = p.Version
	return ran{note: fmt.Sprintf("protocol %d -> %d", cur, p.Version), version: p.Version}, nil
}

// ceremonyKey returns the named key: on a dry run a copy, so the checks
// that mutate on success change nothing.
func (f *Machine) ceremonyKey(name string, dry bool) (*keys.Key, error) {
	k, ok := f.st.Keys[name]
	if !ok || entry.IsAuditKey(name) {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownKey)
	}
	if dry {
		return k.Clone(), nil
	}
	return k, nil
}

// ceremonyPolicyDoc reads a policy-change or operators document against
// the policy in force (ceremony.PolicyDocument); like a SetPolicy, it must
// keep every tenant that exists.
func (f *Machine) ceremonyPolicyDoc(kind policy.CeremonyKind, p *ceremony.PolicyParams) (*policy.Policy, error) {
	return ceremony.PolicyDocument(kind, f.policy(), p, f.checkTenantsKept)
}

// ceremonyInstall installs next as the policy, or on a dry run checks it.
func (f *Machine) ceremonyInstall(index uint64, c *ceremony.Ceremony, next *policy.Policy, want string, dry bool) (ran, error) {
	if err := next.Normalize(); err != nil {
		return ran{}, err
	}
	_, hash, err := next.Canonical()
	if err != nil {
		return ran{}, err
	}
	if want != "" && want != hash {
		return ran{}, fmt.Errorf("%w: document hashes to %s, not %s", policy.ErrInvalid, hash, want)
	}
	if dry {
		return ran{}, nil
	}
	res := f.installPolicy(index, next, want, "ceremony:"+c.ID)
	return ran{note: res.Note}, res.Err
}
