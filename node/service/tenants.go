package service

import (
	"context"
	"encoding/json"
	"slices"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

// tenantShredWait is how long DeleteTenant waits for every node's report that it
// shredded the tenant's key before answering with the reports so far. A
// node that is down reports when it comes back; `kq tenant list` shows
// who has.
const tenantShredWait = 10 * time.Second

func (s *policyService) CreateTenant(ctx context.Context, req *kqpb.CreateTenantRequest) (*kqpb.TenantResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckIdent("tenant", req.Tenant, 32, ""); err != nil {
		return nil, err
	}
	res, err := s.n.rt.Apply(ctx, &fsm.CreateTenant{Tenant: req.Tenant, Actor: actor, ActorSerial: s.n.actorSerial(ctx)})
	if err != nil {
		return nil, err
	}
	return &kqpb.TenantResponse{Note: res.Note, Tenant: s.tenant(req.Tenant)}, nil
}

// DeleteTenant deletes the tenant and waits, up to tenantShredWait, for every
// node to report its key of the tenant shredded.
func (s *policyService) DeleteTenant(ctx context.Context, req *kqpb.DeleteTenantRequest) (*kqpb.TenantResponse, error) {
	actor, err := s.onLeader(ctx)
	if err != nil {
		return nil, err
	}
	if err := CheckIdent("tenant", req.Tenant, 32, ""); err != nil {
		return nil, err
	}
	res, err := s.n.rt.Apply(ctx, &fsm.DeleteTenant{Tenant: req.Tenant, Force: req.Force, Actor: actor, ActorSerial: s.n.actorSerial(ctx)})
	if err != nil {
		return nil, err
	}
	wait, cancel := context.WithTimeout(ctx, tenantShredWait)
	defer cancel()
	for t := s.tenant(req.Tenant); ; t = s.tenant(req.Tenant) {
		if t == nil || len(t.Shredded) >= len(s.n.cluster.NodeIDs()) {
			return &kqpb.TenantResponse{Note: res.Note, Tenant: t}, nil
		}
		select {
		case <-wait.Done():
			return &kqpb.TenantResponse{Note: res.Note, Tenant: t}, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (s *policyService) ListTenants(ctx context.Context, _ *kqpb.ListTenantsRequest) (*kqpb.ListTenantsResponse, error) {
	if _, err := s.onLeader(ctx); err != nil {
		return nil, err
	}
	out := &kqpb.ListTenantsResponse{Nodes: s.n.cluster.NodeIDs()}
	for _, t := range s.n.fsm.Tenants() {
		out.Tenants = append(out.Tenants, tenantPB(t))
	}
	return out, nil
}

// tenant returns the named tenant as the state holds it now, or nil.
func (s *policyService) tenant(name string) *kqpb.Tenant {
	i := slices.IndexFunc(s.n.fsm.Tenants(), func(t fsm.TenantInfo) bool { return t.Name == name })
	if i < 0 {
		return nil
	}
	return tenantPB(s.n.fsm.Tenants()[i])
}

func tenantPB(t fsm.TenantInfo) *kqpb.Tenant {
	pb := &kqpb.Tenant{Name: t.Name, Generation: t.Generation, Keys: uint32(t.Keys), KeyWeight: uint32(t.Weight), Listed: t.Listed}
	if t.Quota != nil {
		if b, err := json.Marshal(t.Quota); err == nil {
			pb.QuotaJson = string(b)
		}
	}
	if d := t.Deleted; d != nil {
		pb.Deleted, pb.DeletedGeneration, pb.DeletedIndex, pb.Shredded, pb.Forced = true, d.Generation, d.Index, d.Shredded, d.Forced
	}
	return pb
}
