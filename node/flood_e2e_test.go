package node_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/blame"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestFloodingMemberIsBlamedAndExcluded runs the flood-messages bug
// (kqd_bugs) on n3: it sends every peer junk round messages for sessions
// that never start. Both honest members drop them over n3's share of their
// buffers and accuse n3 of flooding; two accusers exclude it from the
// committees of the threshold-1 keys, and signing goes on without it.
func TestFloodingMemberIsBlamedAndExcluded(t *testing.T) {
	const flooder = "n3"
	c := startCluster(t, "simulator", func(o *cluster.Options) {
		o.BinDir, o.Metrics = bugsBinDir(t), true
		o.NodeBugs = map[string]string{flooder: "flood-messages"}
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	waitProtocol(ctx, t, c, fsm.ProtocolV2, time.Minute)
	leader, cl := rawLeaderClient(ctx, t, c)
	createKey(ctx, t, cl, "fk", kqpb.Algorithm_ED25519)
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "fk", Purpose: "sign", TtlMs: 600_000})

	excludedLine := fmt.Sprintf("keyquorum_blame_excluded{member=%q} 1", flooder)
	countLine := fmt.Sprintf("keyquorum_blame_total{check=%q,culprit=%q}", blame.Flood, flooder)
	for {
		m, err := c.Scrape(ctx, leader)
		if err == nil && strings.Contains(m, excludedLine) && strings.Contains(m, countLine) {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%s never excluded for flooding; blame metrics:\n%s", flooder, grepLines(m, "keyquorum_blame"))
		}
		time.Sleep(time.Second)
	}
	for i := range 6 {
		d := sha256.Sum256(fmt.Appendf(nil, "after the flood %d", i))
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: d[:], RequestId: fmt.Sprintf("flood-%d", i)})
		if err != nil {
			t.Fatalf("sign %d with %s excluded: %v", i, flooder, err)
		}
		for _, m := range resp.Committee {
			if m == flooder {
				t.Fatalf("sign %d: committee %v holds the excluded flooder", i, resp.Committee)
			}
		}
	}
	r, err := c.KQ(ctx, "audit", "query", "--op", "attempt_blamed", "-o", "json")
	if err != nil || !strings.Contains(string(r), flooder+" flooded round messages") {
		t.Fatalf("audit trail of the accusations: %v\n%s", err, r)
	}
}
