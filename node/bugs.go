package node

import (
	"context"
	"strings"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/bypass"
	"github.com/keyquorum/keyquorum/node/peer"
	"github.com/keyquorum/keyquorum/node/service"
)

// The deliberate faults of node/faults, wired into the packages they
// break; in builds without kqd_bugs every check is constant false.

// peerFaults are the deliberate faults of this node's peer links.
func (n *Node) peerFaults() peer.Faults {
	f := peer.Faults{DropMessage: n.bugs.DropMessageOn(), Flood: n.bugs.FloodMessagesOn()}
	if n.bugs.MaliciousMemberOn() {
		f.Outbound = n.malice.Outbound
	}
	return f
}

// serviceFaults are the bugs the client services take part in.
func (n *Node) serviceFaults() service.Faults {
	f := service.Faults{StaleRead: n.bugs.StaleReadOn(), SkipDedup: n.bugs.SkipDedupOn()}
	if n.bugs.RevokedSignsOn() {
		f.RevokeLater = func(cmd *fsm.ChangeKey) {
			n.spawn(func() {
				time.Sleep(2 * time.Second)
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				n.propose(ctx, cmd)
			})
		}
	}
	if n.bugs.LeaderBypassOn() {
		f.ForgeSign = func(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, bool, error) {
			if !strings.HasPrefix(req.RequestId, bypass.ForgedPrefix) {
				return nil, false, nil
			}
			resp, err := n.bypass.Forge(ctx, req)
			return resp, true, err
		}
	}
	return f
}
