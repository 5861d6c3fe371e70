package node

import (
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/hashicorp/raft"
	"google.golang.org/grpc"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
	"github.com/keyquorum/keyquorum/consensus/policy"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/members"
	"github.com/keyquorum/keyquorum/node/service"
	"github.com/keyquorum/keyquorum/node/service/backups"
	"github.com/keyquorum/keyquorum/node/service/ceremonies"
	"github.com/keyquorum/keyquorum/node/store"
)

// newServices builds the client port's services (package service, with
// packages backups and ceremonies) over this member.
func (n *Node) newServices() *service.Services {
	rt := serviceRuntime{n}
	backupSvc := backups.New(backups.Config{Member: rt, State: n.fsm, Actor: n.actor, Log: n.log})
	ceremonySvc := ceremonies.New(ceremonies.Config{Member: rt, State: n.fsm, Cluster: n.cluster, Actor: n.actor})
	return service.New(service.Config{Runtime: rt, State: n.fsm, Cluster: n.cluster, Self: n.self.ID,
		Clock: n.clock, Log: n.log, Metrics: n.metrics, Denials: n.audit.Denials, Faults: n.serviceFaults(),
		Also: []func(*grpc.Server){backupSvc.Register, ceremonySvc.Register}})
}

// actor names who asked for the call in ctx (service.Actor).
func (n *Node) actor(ctx context.Context) (string, error) { return service.Actor(ctx, n.fsm) }

// serviceRuntime is what the services ask of this member. It is unexported so
// that the Node's API does not grow with what the services need.
type serviceRuntime struct{ n *Node }

var (
	_ service.Runtime   = serviceRuntime{}
	_ backups.Member    = serviceRuntime{}
	_ ceremonies.Member = serviceRuntime{}
)

func (r serviceRuntime) Apply(ctx context.Context, cmd fsm.Command) (fsm.Result, error) {
	return r.n.apply(ctx, cmd)
}
func (r serviceRuntime) LinearizableRead(ctx context.Context) error {
	return r.n.raft.LinearizableRead(ctx)
}
func (r serviceRuntime) WatchKey(name string) <-chan struct{} {
	return r.n.waiters.WatchKey(name)
}
func (r serviceRuntime) WatchSign(id string) <-chan struct{} {
	return r.n.waiters.WatchSign(id)
}
func (r serviceRuntime) IsLeader() bool                             { return r.n.raft.IsLeader() }
func (r serviceRuntime) Leader() (config.NodeConfig, bool)          { return r.n.leaderConfig() }
func (r serviceRuntime) Conn(addr string) (*grpc.ClientConn, error) { return r.n.peers.Conn(addr) }
func (r serviceRuntime) Unreachable(ids []string) []string {
	return members.Absent(ids, r.n.raft.Reachable())
}
func (r serviceRuntime) PickCommittee(k *fsm.Key) ([]string, error) {
	return r.n.committees.Pick(k, nil, 0)
}
func (r serviceRuntime) SignAsked()                   { r.n.presigs.SignAsked() }
func (r serviceRuntime) Holders() []string            { return r.n.members.Holders() }
func (r serviceRuntime) Members() []membership.Member { return r.n.members.All() }
func (r serviceRuntime) IsMember(id string) bool      { return r.n.members.Admits(id) }
func (r serviceRuntime) EnsurePeerLinks()             { r.n.ensurePeerLinks() }
func (r serviceRuntime) NodeStatus(id string) (*kqpb.NodeStatus, error) {
	return r.n.membership.NodeStatus(id)
}
func (r serviceRuntime) SealedFiles() ([]string, error) { return store.SealedFiles(r.n.dir) }

func (r serviceRuntime) LeaderKnown() bool {
	id, _ := r.n.raft.Leader()
	return id != ""
}

func (r serviceRuntime) ProposeSign(ctx context.Context, k *fsm.Key, presign bool, cmd *fsm.SignRequested) (bool, []fsm.FrostCommitment, error) {
	return r.n.proposeSign(ctx, k, presign, cmd)
}

func (r serviceRuntime) AuditSign(ctx context.Context, k *fsm.Key, id string, msg []byte) ([]byte, error) {
	return r.n.audit.Sign(ctx, k, id, msg)
}

func (r serviceRuntime) CeremonyContext(kind policy.CeremonyKind, params string) *ceremony.Context {
	return r.n.ceremonyContext(kind, params)
}

func (r serviceRuntime) BackupSnapshot(ctx context.Context) (*raft.SnapshotMeta, io.ReadCloser, error) {
	return r.n.raft.BackupSnapshot(ctx)
}

func (r serviceRuntime) OpenSealed(rel string) (io.ReadCloser, error) {
	return os.Open(filepath.Join(r.n.dir, filepath.FromSlash(rel)))
}

// LocalStatus fills in what only this member knows of itself.
func (r serviceRuntime) LocalStatus(out *kqpb.StatusResponse) {
	n := r.n
	st := n.raft.Stats()
	out.State, out.LeaderId, out.Term = strings.ToLower(st.State), st.LeaderID, st.Term
	out.CommitIndex, out.AppliedIndex = st.CommitIndex, st.AppliedIndex
	out.Preparams = n.pre.Status()
	out.Estimates = n.took.Estimates()
	cv := n.clocks.View()
	out.ClockOffsetNanos, out.Clock = int64(cv.Offset), "ok"
	if cv.Err != nil {
		out.Clock = cv.Err.Error()
	}
}

// ceremonyContext is the leader's context for a ceremony of kind: the
// choices the direct path makes on the leader (bootstrap members, the
// live holders and dealers of a reshare, the configuration's members).
// What it cannot choose it leaves out; the entry then says what is
// missing.
func (n *Node) ceremonyContext(kind policy.CeremonyKind, params string) *ceremony.Context {
	cctx := &ceremony.Context{}
	switch kind {
	case policy.KindMembership:
		if n.fsm.Members() == nil {
			for _, m := range n.cluster.Nodes {
				cctx.Bootstrap = append(cctx.Bootstrap, membership.Member{ID: m.ID, Raft: m.Raft, Peer: m.Peer, Client: m.Client})
			}
		}
	case policy.KindThreshold:
		var p ceremony.ThresholdParams
		if json.Unmarshal([]byte(params), &p) != nil {
			return cctx
		}
		k, ok := n.fsm.Key(p.Key)
		if !ok {
			return cctx
		}
		reachable := n.raft.Reachable()
		for _, m := range k.Members {
			if slices.Contains(reachable, m) {
				cctx.Holders = append(cctx.Holders, m)
			}
		}
		if committee, err := n.committees.Pick(k, nil, 0); err == nil {
			cctx.Committee = committee
		}
	case policy.KindProtocolUpgrade:
		cctx.Members = n.members.IDs()
	}
	if cctx.Bootstrap == nil && cctx.Holders == nil && cctx.Committee == nil && cctx.Members == nil {
		return nil
	}
	return cctx
}
