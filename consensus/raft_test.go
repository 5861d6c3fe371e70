package consensus_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus"
	"github.com/keyquorum/keyquorum/consensus/fsm"
)

func TestClusterElectsLeaderAndReplicatesToAll(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	ln := c.members[l].node

	var last uint64
	var want []string
	for k, v := range []string{"a", "b", "c", "d"} {
		res, idx, err := ln.Apply(context.Background(), []byte(v))
		if err != nil {
			t.Fatalf("apply %s: %v", v, err)
		}
		if res != k+1 {
			t.Fatalf("apply %s: result %v, want %d", v, res, k+1)
		}
		if idx <= last {
			t.Fatalf("apply %s: index %d not after %d", v, idx, last)
		}
		last = idx
		want = append(want, v)
	}
	c.converge(want)

	st := ln.Stats()
	if st.State != "Leader" || st.LeaderID != c.members[l].cfg.NodeID {
		t.Fatalf("leader stats %+v", st)
	}
	if st.AppliedIndex < last || st.CommitIndex < last || st.LastIndex < last || st.Term == 0 {
		t.Fatalf("leader stats %+v behind last apply index %d", st, last)
	}
	if !slices.Equal(st.Members, []string{"n1", "n2", "n3"}) {
		t.Fatalf("members %v", st.Members)
	}
}

func TestApplyReturnsFSMErrorAsResult(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	ln := c.members[c.leader()].node
	res, idx, err := ln.Apply(context.Background(), []byte("reject"))
	if err != nil {
		t.Fatalf("apply: raft error %v, want FSM rejection as result", err)
	}
	if res != errRejected || idx == 0 {
		t.Fatalf("apply: result %v index %d, want %v and an index", res, idx, errRejected)
	}
}

func TestFollowerRejectsApplyAndLinearizableRead(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	f := c.members[c.follower(l)].node

	_, _, err := f.Apply(context.Background(), []byte("x"))
	if !errors.Is(err, consensus.ErrNotLeader) || consensus.OutcomeUnknown(err) {
		t.Fatalf("follower apply: %v, want ErrNotLeader with a known outcome", err)
	}
	if err := f.LinearizableRead(context.Background()); !errors.Is(err, consensus.ErrNotLeader) {
		t.Fatalf("follower read: %v, want ErrNotLeader", err)
	}
	if got := f.Reachable(); !slices.Equal(got, []string{c.members[c.follower(l)].cfg.NodeID}) {
		t.Fatalf("follower Reachable %v, want only itself", got)
	}

	want := c.applyN(l, 5, "w")
	if err := c.members[l].node.LinearizableRead(context.Background()); err != nil {
		t.Fatalf("leader read: %v", err)
	}
	// Apply already waits for the leader's FSM; the read must not regress it.
	if got := c.members[l].fsm.get(); !slices.Equal(got, want) {
		t.Fatalf("leader FSM after read %v, want %v", got, want)
	}
	if consensus.OutcomeUnknown(consensus.ErrNotLeader) || !consensus.OutcomeUnknown(consensus.ErrLeadershipLost) {
		t.Fatal("OutcomeUnknown misclassifies sentinels")
	}
}

func TestLinearizableReadHonoursContext(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	ln := c.members[c.leader()].node
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ln.LinearizableRead(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("read with cancelled ctx: %v", err)
	}
	if _, _, err := ln.Apply(ctx, []byte("x")); !errors.Is(err, context.Canceled) || consensus.OutcomeUnknown(err) {
		t.Fatalf("apply with cancelled ctx: %v, want Canceled with a known outcome", err)
	}
}

func TestLeaderShutdownElectsNewLeaderAndRestartedNodeCatchesUp(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	old := c.leader()
	want := c.applyN(old, 5, "before")
	c.converge(want)

	c.stop(old)
	start := time.Now()
	l := c.leader()
	if l == old {
		t.Fatal("stopped member still leader")
	}
	t.Logf("new leader after %v", time.Since(start))
	want = append(want, c.applyN(l, 5, "after")...)
	c.converge(want)

	c.start(old)
	c.converge(want)
	if _, _, err := c.members[old].node.Apply(context.Background(), []byte("x")); !errors.Is(err, consensus.ErrNotLeader) {
		t.Fatalf("apply on rejoined follower: %v", err)
	}
}

func TestApplyOnLeaderWithoutQuorumIsOutcomeUnknown(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	c.applyN(l, 1, "x")
	for i := range c.members {
		if i != l {
			c.stop(i)
		}
	}
	// Still leader until its lease lapses; the entry is appended locally but
	// can never commit with this quorum, so raft reports leadership lost.
	_, _, err := c.members[l].node.Apply(context.Background(), []byte("orphan"))
	if errors.Is(err, consensus.ErrNotLeader) {
		t.Fatalf("leader stepped down before Apply; raise LeaderLeaseTimeout: %v", err)
	}
	if !errors.Is(err, consensus.ErrLeadershipLost) || !consensus.OutcomeUnknown(err) {
		t.Fatalf("apply without quorum: %v, want ErrLeadershipLost", err)
	}
	if c.members[l].node.IsLeader() {
		t.Fatal("still leader without quorum")
	}
}

func TestApplyAfterShutdownReturnsErrShutdown(t *testing.T) {
	c := newCluster(t, 1, nil, nil)
	n := c.members[0].node
	c.leader()
	c.stop(0)
	if _, _, err := n.Apply(context.Background(), []byte("x")); !errors.Is(err, consensus.ErrShutdown) {
		t.Fatalf("apply after shutdown: %v", err)
	}
	if err := n.LinearizableRead(context.Background()); !errors.Is(err, consensus.ErrShutdown) {
		t.Fatalf("read after shutdown: %v", err)
	}
	if err := n.Shutdown(); err != nil {
		t.Fatalf("second shutdown: %v", err)
	}
}

func TestRestartRecoversFromSnapshotPlusLog(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	want := c.applyN(l, 20, "snap")
	c.converge(want)
	for _, m := range c.members {
		if err := m.node.Snapshot(); err != nil {
			t.Fatalf("snapshot %s: %v", m.cfg.NodeID, err)
		}
	}
	snapped := len(want)
	want = append(want, c.applyN(l, 5, "log")...)
	c.converge(want)

	for i := range c.members {
		c.stop(i)
	}
	for i, m := range c.members {
		dirs, err := os.ReadDir(filepath.Join(m.cfg.Dir, "snapshots"))
		if err != nil || len(dirs) == 0 {
			t.Fatalf("%s: no snapshot on disk (%v)", m.cfg.NodeID, err)
		}
		c.start(i)
		// raft restores the snapshot inside Open, before any election; the
		// log tail is applied once a leader re-establishes the commit index.
		if got := m.fsm.get(); m.fsm.restoreCount() != 1 || !slices.Equal(got, want[:snapped]) {
			t.Fatalf("%s after open: %d restores, %d values; want 1 restore of %d", m.cfg.NodeID, m.fsm.restoreCount(), len(got), snapped)
		}
	}
	l = c.leader()
	c.converge(want)
	want = append(want, c.applyN(l, 1, "new")...)
	c.converge(want)
}

func TestLaggingFollowerCatchesUpByInstallSnapshot(t *testing.T) {
	c := newCluster(t, 3, nil, func(cfg *consensus.Config) { cfg.TrailingLogs = 2 })
	l := c.leader()
	f := c.follower(l)
	want := c.applyN(l, 3, "early")
	c.converge(want)

	c.stop(f)
	want = append(want, c.applyN(l, 30, "missed")...)
	if err := c.members[l].node.Snapshot(); err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	c.start(f)
	c.converge(want)
	if c.members[f].fsm.restoreCount() == 0 {
		t.Fatal("follower caught up without a snapshot restore; the log was not compacted")
	}
}

func TestReachableDropsStoppedFollowerAndReturnsItAfterRestart(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	ln := c.members[l].node
	all := []string{"n1", "n2", "n3"}
	eventually(t, 3*time.Second, func() error {
		if got := ln.Reachable(); !slices.Equal(got, all) {
			return errors.New("not all reachable: " + join(got))
		}
		return nil
	})

	f := c.follower(l)
	fid := c.members[f].cfg.NodeID
	c.stop(f)
	start := time.Now()
	without := slices.DeleteFunc(slices.Clone(all), func(s string) bool { return s == fid })
	eventually(t, 3*time.Second, func() error {
		if got := ln.Reachable(); !slices.Equal(got, without) {
			return errors.New("reachable " + join(got))
		}
		return nil
	})
	t.Logf("stopped follower dropped from Reachable after %v", time.Since(start))

	c.start(f)
	start = time.Now()
	eventually(t, 3*time.Second, func() error {
		if got := ln.Reachable(); !slices.Equal(got, all) {
			return errors.New("reachable " + join(got))
		}
		return nil
	})
	t.Logf("restarted follower back in Reachable after %v", time.Since(start))
}

func TestWatchLeadershipReportsGainAndClosesOnShutdown(t *testing.T) {
	c := newCluster(t, 1, nil, nil)
	n := c.members[0].node
	ch := n.WatchLeadership(context.Background())
	deadline := time.After(5 * time.Second)
	for leading := false; !leading; {
		select {
		case v, ok := <-ch:
			if !ok {
				t.Fatal("channel closed early")
			}
			leading = v
		case <-deadline:
			t.Fatal("never saw leadership")
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	ch2 := n.WatchLeadership(ctx)
	if v := <-ch2; !v {
		t.Fatal("new subscriber did not get current leadership")
	}
	cancel()
	eventually(t, time.Second, func() error {
		select {
		case _, ok := <-ch2:
			if !ok {
				return nil
			}
		default:
		}
		return errors.New("cancelled subscription still open")
	})
	c.stop(0)
	for range ch { // drains the final false, then must be closed
	}
}

func join(s []string) string {
	out := "["
	for i, v := range s {
		if i > 0 {
			out += " "
		}
		out += v
	}
	return out + "]"
}

func TestReachableOnNewLeaderExcludesMemberDownBeforeElection(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	l := c.leader()
	f := c.follower(l)
	fid := c.members[f].cfg.NodeID
	c.stop(f)
	c.stop(l)
	c.start(l) // l and the third member form a quorum; f stays down
	nl := c.members[c.leader()].node
	eventually(t, 3*time.Second, func() error {
		got := nl.Reachable()
		if len(got) != 2 || slices.Contains(got, fid) {
			return errors.New("reachable " + join(got))
		}
		return nil
	})
}

// TestLeaderCommittedReadsTheFollowersOwnEntry: a follower confirms a
// leader's "entry index of term is committed" from its own log, and refuses
// the claim from a member that is not its leader, for another term, or for
// an entry it does not hold.
func TestLeaderCommittedReadsTheFollowersOwnEntry(t *testing.T) {
	c := newCluster(t, 3, nil, nil)
	li := c.leader()
	leader, follower := c.members[li], c.members[c.follower(li)]
	data, err := fsm.Encode(&fsm.SignRequested{RequestID: "announced-1", Key: "k", Digest: []byte("d")})
	if err != nil {
		t.Fatal(err)
	}
	_, idx, err := leader.node.Apply(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	term, leaderID := leader.node.Term(), leader.cfg.NodeID
	var cmd fsm.Command
	eventually(t, 5*time.Second, func() error {
		// The entry reaches the follower's log with the append that
		// committed it; the follower may not have applied it yet.
		cmd, err = follower.node.LeaderCommitted(context.Background(), leaderID, idx, term)
		return err
	})
	if sr, ok := cmd.(*fsm.SignRequested); !ok || sr.RequestID != "announced-1" {
		t.Fatalf("follower read %#v at index %d, want the leader's sign request", cmd, idx)
	}
	for name, claim := range map[string]struct {
		from        string
		index, term uint64
	}{
		"from a member that is not the leader": {follower.cfg.NodeID, idx, term},
		"for another term":                     {leaderID, idx, term + 1},
		"for an entry the follower lacks":      {leaderID, idx + 100, term},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		_, err := follower.node.LeaderCommitted(ctx, claim.from, claim.index, claim.term)
		cancel()
		if !errors.Is(err, consensus.ErrEntryMismatch) {
			t.Errorf("claim %s: err %v, want ErrEntryMismatch", name, err)
		}
	}
}

// TestMemBackendReplicatesAndRestartResumesFromItsStores runs members on
// injected in-memory stores and transport (Config.Backend): they elect and
// replicate as over TCP, a member restarted on its stores resumes from
// them, and one whose stores are forgotten starts empty and catches up
// from the others, as a member with a lost disk would.
func TestMemBackendReplicatesAndRestartResumesFromItsStores(t *testing.T) {
	c, net := newMemCluster(t, 3)
	old := c.leader()
	want := c.applyN(old, 5, "before")
	c.converge(want)

	c.stop(old)
	l := c.leader()
	want = append(want, c.applyN(l, 3, "after")...)
	c.converge(want)
	c.start(old)
	c.converge(want)
	if st := c.members[old].node.Stats(); st.LastIndex < uint64(len(want)) {
		t.Fatalf("restarted member's log ends at %d, want at least %d", st.LastIndex, len(want))
	}

	f := c.follower(c.leader())
	c.stop(f)
	net.Forget(c.members[f].cfg.RaftAddr)
	c.start(f)
	c.converge(want)
}
