package consensus_test

import (
	"context"
	"testing"
)

// BenchmarkApply measures one committed command on a 3-member loopback
// cluster with fsync on: the leader's and a follower's boltdb commits.
func BenchmarkApply(b *testing.B) {
	c := newCluster(b, 3, nil, nil)
	n := c.members[c.leader()].node
	cmd := []byte("bench")
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := n.Apply(context.Background(), cmd); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLinearizableRead measures VerifyLeader plus Barrier.
func BenchmarkLinearizableRead(b *testing.B) {
	c := newCluster(b, 3, nil, nil)
	n := c.members[c.leader()].node
	b.ResetTimer()
	for b.Loop() {
		if err := n.LinearizableRead(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}
