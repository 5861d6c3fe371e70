package node_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// bypassSigned reports whether any node logged a signature of a forged
// request.
func bypassSigned(t *testing.T, c *cluster.Cluster) bool {
	t.Helper()
	for _, id := range c.IDs() {
		b, err := os.ReadFile(c.LogPath(id))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), "leader-bypass: a forged request was signed") {
			return true
		}
	}
	return false
}

// forgeThroughLeader asks the leader (a kqd_bugs build with leader-bypass)
// to forge a sign entry for key "ed" and start it, and returns once the
// leader says it started.
func forgeThroughLeader(ctx context.Context, t *testing.T, c *cluster.Cluster) {
	t.Helper()
	cl, err := testClient(c, leaderOf(ctx, t, c))
	if err != nil {
		t.Fatal(err)
	}
	createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)
	_, err = cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: digest("forged"), RequestId: "forged-1"})
	if err == nil || !strings.Contains(err.Error(), "forged request started") {
		t.Fatalf("forged sign: %v, want the leader to say it started the forged request", err)
	}
}

// TestLeaderBypassSignsNothing plays a compromised leader on real
// processes: it appends a sign entry with a forged handle, starts its part
// of the session although its own replica refused the entry, and announces
// the attempt to the committee. Every honest member enforces the policy
// itself, so it never joins, and no signature comes out anywhere. The
// second half gives the members keyquorum's former early start (they
// joined on the leader's announcement), and the same attack signs: the
// check above can fail.
func TestLeaderBypassSignsNothing(t *testing.T) {
	t.Run("members enforce", func(t *testing.T) {
		c := startCluster(t, "simulator", func(o *cluster.Options) {
			o.BinDir, o.Bugs, o.SignTimeout = bugsBinDir(t), "leader-bypass", 3*time.Second
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		forgeThroughLeader(ctx, t, c)
		// Longer than a session needs (~30 ms) and than the leader's
		// session deadline: by then it would have signed or given up.
		time.Sleep(5 * time.Second)
		if bypassSigned(t, c) {
			t.Fatal("a forged sign entry that every replica refused was signed")
		}
	})
	t.Run("members trusting the announcement sign", func(t *testing.T) {
		c := startCluster(t, "simulator", func(o *cluster.Options) {
			o.BinDir, o.Bugs = bugsBinDir(t), "leader-bypass,trust-announce"
		})
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		forgeThroughLeader(ctx, t, c)
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
			if bypassSigned(t, c) {
				return
			}
		}
		t.Fatal("with members trusting announcements, the forged entry was not signed: the test above proves nothing")
	})
}
