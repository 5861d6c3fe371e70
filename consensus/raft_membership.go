package consensus

import (
	"context"
	"fmt"
	"slices"

	"github.com/hashicorp/raft"
)

// Raft's own membership, changed by the leader as the replicated
// membership (membership.go) says. Each change is a raft configuration
// entry, committed by the old configuration's quorum.

// Suffrage of a server in raft's configuration.
const (
	SuffrageVoter    = "voter"
	SuffrageNonvoter = "nonvoter"
	SuffrageNone     = "none" // not in the configuration
)

// Server is one member of raft's configuration.
type Server struct {
	ID       string
	Address  string
	Suffrage string
}

// Servers returns raft's latest configuration, sorted by id.
func (n *Node) Servers() ([]Server, error) {
	f := n.raft.GetConfiguration()
	if err := f.Error(); err != nil {
		return nil, fmt.Errorf("consensus: configuration: %w", err)
	}
	var out []Server
	for _, s := range f.Configuration().Servers {
		suf := SuffrageNonvoter
		if s.Suffrage == raft.Voter {
			suf = SuffrageVoter
		}
		out = append(out, Server{ID: string(s.ID), Address: string(s.Address), Suffrage: suf})
	}
	slices.SortFunc(out, func(a, b Server) int {
		if a.ID < b.ID {
			return -1
		}
		if a.ID > b.ID {
			return 1
		}
		return 0
	})
	return out, nil
}

// SuffrageOf returns id's suffrage in raft's latest configuration.
func (n *Node) SuffrageOf(id string) string {
	servers, err := n.Servers()
	if err != nil {
		return SuffrageNone
	}
	for _, s := range servers {
		if s.ID == id {
			return s.Suffrage
		}
	}
	return SuffrageNone
}

// AddNonvoter adds id at addr as a non-voter: it receives the log (a
// snapshot first when it is far behind) but counts toward no quorum.
func (n *Node) AddNonvoter(ctx context.Context, id, addr string) error {
	return n.configChange(ctx, "add non-voter", n.raft.AddNonvoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.deadline(ctx)))
}

// AddVoter makes id a voter (promoting a non-voter).
func (n *Node) AddVoter(ctx context.Context, id, addr string) error {
	return n.configChange(ctx, "add voter", n.raft.AddVoter(raft.ServerID(id), raft.ServerAddress(addr), 0, n.deadline(ctx)))
}

// RemoveServer removes id from the configuration.
func (n *Node) RemoveServer(ctx context.Context, id string) error {
	return n.configChange(ctx, "remove server", n.raft.RemoveServer(raft.ServerID(id), 0, n.deadline(ctx)))
}

func (n *Node) configChange(ctx context.Context, what string, f raft.IndexFuture) error {
	if _, err := wait(ctx, f); err != nil {
		return fmt.Errorf("consensus: %s: %w", what, err)
	}
	return nil
}
