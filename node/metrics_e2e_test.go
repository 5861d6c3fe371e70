package node_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/node/metrics/metricstest"
)

// TestMetricsEndpointCountsSigningWithoutLeaking runs kqd with --metrics,
// signs a known marker digest from the pool and with the full protocol,
// sends a refused request carrying the marker too, then scrapes every node:
// the pool, request, session, raft and audit series must be there with
// values that match what happened, and the marker, the request ids and the
// caller's identity must appear nowhere, raw, hex or base64.
func TestMetricsEndpointCountsSigningWithoutLeaking(t *testing.T) {
	c := startCluster(t, "swtpm", func(o *cluster.Options) {
		o.Metrics = true
		o.ExtraConfig = "audit:\n  checkpoint_every: 16\n"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := mustTestClient(t, c, "n1")
	createKey(ctx, t, cl, "ec", kqpb.Algorithm_ECDSA_SECP256K1)
	waitPresigs(ctx, t, cl, 1)

	marker := sha256.Sum256([]byte("keyquorum-metrics-marker-5b0c"))
	ids := []string{"metrics-req-presigned-8f2e", "metrics-req-full-41aa", "metrics-req-refused-c3d9"}
	resp := signEventually(ctx, t, cl, &kqpb.SignRequest{Key: "ec", Digest: marker[:], RequestId: ids[0]})
	if !resp.Presigned {
		t.Fatal("first signature did not come from the pool")
	}
	full := sha256.Sum256(marker[:])
	signEventually(ctx, t, cl, &kqpb.SignRequest{Key: "ec", Digest: full[:], RequestId: ids[1], FullProtocol: true})
	if _, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: append(marker[:], 0x01), RequestId: ids[2]}); err == nil {
		t.Fatal("a 33-byte ECDSA digest was accepted")
	}
	leader := leaderOf(ctx, t, c)

	// Checkpoints and member reports land asynchronously; poll until the
	// counters that depend on them moved, then check everything at once.
	var texts map[string]string
	var all map[string]map[string]float64
	for {
		texts, all = map[string]string{}, map[string]map[string]float64{}
		for _, id := range c.IDs() {
			text, err := c.Scrape(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			texts[id], all[id] = text, metricstest.Parse(t, text)
		}
		if sumOver(all, "keyquorum_audit_checkpoints_total") > 0 && sumOver(all, `keyquorum_tss_sessions_total{kind="presigned_sign",outcome="ok"}`) >= 2 {
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("no checkpoint or presigned sessions counted; leader scrape:\n%s", texts[leader])
		}
		time.Sleep(250 * time.Millisecond)
	}

	l := all[leader]
	atLeast(t, leader, l, map[string]float64{
		`keyquorum_sign_requests_total{code="OK",outcome="ok",path="presigned"}`:              1,
		`keyquorum_sign_requests_total{code="OK",outcome="ok",path="full"}`:                   1,
		`keyquorum_sign_requests_total{code="InvalidArgument",outcome="refused",path="none"}`: 1,
		`keyquorum_sign_duration_seconds_count{path="presigned"}`:                             1,
		`keyquorum_presign_hits_total{key="ec"}`:                                              1,
		`keyquorum_sign_phase_seconds_count{phase="ordered"}`:                                 2,
		`keyquorum_sign_phase_seconds_count{phase="signed"}`:                                  2,
		`keyquorum_raft_state{state="leader"}`:                                                1,
		`keyquorum_raft_term`:                                                                 1,
		`keyquorum_raft_commit_index`:                                                         1,
	})
	// The refused digest counts as a refusal where it was refused: at n1,
	// or at the leader when n1 forwarded it.
	if got := sumOver(all, `keyquorum_requests_refused_total{code="InvalidArgument",method="sign"}`); got < 1 {
		t.Errorf("refused sign calls counted across nodes = %v, want >= 1", got)
	}
	for _, id := range c.IDs() {
		atLeast(t, id, all[id], map[string]float64{
			`keyquorum_preparams_ready`:              1,
			`keyquorum_keys{state="active"}`:         1, // ec, and the audit key once made
			`keyquorum_audit_head_seq`:               16,
			`keyquorum_audit_records_appended_total`: 16,
			`keyquorum_raft_applied_index`:           1,
		})
		if _, ok := all[id][`keyquorum_presign_pool_ready{key="ec"}`]; !ok {
			t.Errorf("%s: no pool gauge for ec", id)
		}
		if all[id][`keyquorum_raft_state{state="leader"}`]+all[id][`keyquorum_raft_state{state="follower"}`] != 1 {
			t.Errorf("%s: raft state is neither leader nor follower", id)
		}
		if id != leader && all[id][`keyquorum_raft_state{state="leader"}`] != 0 {
			t.Errorf("%s: a second leader", id)
		}
	}
	// Two of three members run each session; the presigned request and
	// the pool's refills ran on at least two of them.
	if got := sumOver(all, `keyquorum_tss_sessions_total{kind="sign",outcome="ok"}`); got < 2 {
		t.Errorf("full-protocol sessions ok across nodes = %v, want >= 2", got)
	}
	// Every committee has a follower, which starts its part only once its
	// own replica applied and accepted the entry, never on the leader's
	// word.
	applied, announced := 0.0, 0.0
	for _, id := range c.IDs() {
		if id != leader {
			applied += all[id][`keyquorum_sign_starts_total{from="applied"}`]
			announced += all[id][`keyquorum_sign_starts_total{from="announced"}`]
		}
	}
	if applied < 1 || announced != 0 {
		t.Errorf("followers started %v signing attempts from applied entries and %v from announcements; want >= 1 and 0", applied, announced)
	}
	if got := sumOver(all, `keyquorum_tss_session_seconds_count{kind="sign"}`); got < 2 {
		t.Errorf("full-protocol sessions timed across nodes = %v, want >= 2", got)
	}
	if got := sumOver(all, `keyquorum_tss_session_seconds_count{kind="presigned_sign"}`); got < 2 {
		t.Errorf("presigned sessions timed across nodes = %v, want >= 2", got)
	}
	if got := sumOver(all, `keyquorum_presign_refill_seconds_count{key="ec"}`); got < 2 {
		t.Errorf("refills timed across nodes = %v, want >= 2", got)
	}
	if got := sumOver(all, `keyquorum_tss_sessions_total{kind="keygen",outcome="ok"}`); got < 3 {
		t.Errorf("keygen sessions ok across nodes = %v, want >= 3", got)
	}
	t.Logf("leader %s: presigned sign took %.1f ms; %v refills took %.2f s in total",
		leader, 1000*l[`keyquorum_sign_duration_seconds_sum{path="presigned"}`]/l[`keyquorum_sign_duration_seconds_count{path="presigned"}`],
		sumOver(all, `keyquorum_presign_refill_seconds_count{key="ec"}`), sumOver(all, `keyquorum_presign_refill_seconds_sum{key="ec"}`))

	secrets := [][]byte{marker[:], full[:]}
	for _, id := range ids {
		secrets = append(secrets, []byte(id))
	}
	secrets = append(secrets, []byte("client/"), []byte("spiffe://"))
	for id, text := range texts {
		for _, s := range secrets {
			for _, form := range []string{string(s), hex.EncodeToString(s), strings.ToUpper(hex.EncodeToString(s)),
				base64.StdEncoding.EncodeToString(s), base64.RawStdEncoding.EncodeToString(s), base64.RawURLEncoding.EncodeToString(s)} {
				if strings.Contains(text, form) {
					t.Errorf("%s: /metrics contains %q", id, form)
				}
			}
		}
	}
}

func atLeast(t *testing.T, id string, got, want map[string]float64) {
	t.Helper()
	for series, min := range want {
		v, ok := got[series]
		if !ok {
			t.Errorf("%s: series %s missing", id, series)
		} else if v < min {
			t.Errorf("%s: %s = %v, want >= %v", id, series, v, min)
		}
	}
}

func sumOver(all map[string]map[string]float64, series string) float64 {
	s := 0.0
	for _, m := range all {
		s += m[series]
	}
	return s
}
