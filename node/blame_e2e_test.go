package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// TestBlameExcludesOnlyWithThresholdPlusOneAccusers, on real processes:
// one member accusing another (it may be lying) is recorded and counted,
// and the accused still signs; a second, distinct accuser of the 2-of-3
// key excludes it, and the leader's committees leave it out while the
// other two remain; `kq blame clear` lifts the exclusion.
func TestBlameExcludesOnlyWithThresholdPlusOneAccusers(t *testing.T) {
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.Metrics = true })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, cl := rawLeaderClient(ctx, t, c)
	createKey(ctx, t, cl, "ed", kqpb.Algorithm_ED25519)
	waitProtocol(ctx, t, c, fsm.ProtocolV2, time.Minute)
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "ed", TtlMs: 600_000})
	sign := func(i int) *kqpb.SignResponse {
		t.Helper()
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: fmt.Appendf(nil, "blame %d", i), FullProtocol: true})
		if err != nil {
			t.Fatalf("sign %d: %v", i, err)
		}
		return resp
	}
	// The culprit is the leader: reports reach the log through it, and
	// only the other two members can accuse.
	culprit := leader
	var accusers []string
	for _, id := range c.IDs() {
		if id != culprit {
			accusers = append(accusers, id)
		}
	}
	var target *kqpb.SignResponse
	for i := 0; target == nil; i++ {
		if r := sign(i); slices.Contains(r.Committee, culprit) {
			target = r
		} else if i > 20 {
			t.Fatalf("no committee with %s in 20 signatures", culprit)
		}
	}
	accuse := func(accuser string) {
		t.Helper()
		ev := sha256.Sum256([]byte("forged message from " + culprit))
		data, err := fsm.EncodeAt(&fsm.AttemptBlamed{RequestID: target.RequestId, Attempt: 1, Culprit: culprit,
			Accuser: accuser, Check: "vss-length", EvidenceSHA256: hex.EncodeToString(ev[:])}, fsm.ProtocolV2)
		if err != nil {
			t.Fatal(err)
		}
		pc, conn, err := c.PeerClient(accuser, leader)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := pc.Propose(ctx, &kqpb.ProposeRequest{Command: data}); err != nil {
			t.Fatalf("%s's accusation: %v", accuser, err)
		}
	}
	excludedLine := fmt.Sprintf("keyquorum_blame_excluded{member=%q} 1", culprit)
	countLine := fmt.Sprintf("keyquorum_blame_total{check=\"vss-length\",culprit=%q}", culprit)

	// One accuser: recorded and counted, not excluded.
	accuse(accusers[0])
	m := scrapeUntil(ctx, t, c, leader, countLine+" 1")
	if strings.Contains(m, excludedLine) {
		t.Fatalf("one accuser excluded %s", culprit)
	}
	// A second, distinct accuser: excluded; committees leave it out.
	accuse(accusers[1])
	scrapeUntil(ctx, t, c, leader, excludedLine)
	for i := 100; i < 106; i++ {
		if r := sign(i); slices.Contains(r.Committee, culprit) {
			t.Fatalf("signature %d: committee %v includes the excluded %s", i, r.Committee, culprit)
		}
	}
	out, err := c.KQ(ctx, "blame", "clear", culprit, "-o", "json")
	if err != nil || !strings.Contains(string(out), `"cleared": true`) {
		t.Fatalf("kq blame clear: %v\n%s", err, out)
	}
	if m := scrapeUntil(ctx, t, c, leader, countLine+" 2"); strings.Contains(m, excludedLine) {
		t.Fatalf("%s still excluded after the clear", culprit)
	}
}

// scrapeUntil returns node id's metrics once they contain want.
func scrapeUntil(ctx context.Context, t *testing.T, c scenarioCluster, id, want string) string {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		m, err := c.Scrape(ctx, id)
		if err == nil && strings.Contains(m, want) {
			return m
		}
		last = m
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("metrics of %s never showed %q; last scrape's blame lines:\n%s", id, want, grepLines(last, "keyquorum_blame"))
	return ""
}

func grepLines(s, prefix string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
