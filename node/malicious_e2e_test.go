package node_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
	"github.com/keyquorum/keyquorum/tss/malice"
)

// TestMaliciousMemberOnRealProcesses runs the malicious-member table on
// kqd processes: n3 is a kqd_bugs build with the malicious-member bug, so
// in the sessions of a request whose id starts with "malice-<shape>-" it
// sends that malformed message (package tss/malice), while n1 and n2 are
// honest. Each row makes one key (a keygen row) or signs (a sign row) with
// such an id. A keygen row must fail naming n3 and the check; a sign row
// must name n3 in AttemptBlamed entries for the check (counted in
// keyquorum_blame_total), be retried without n3 and sign, and once both
// honest members accused n3 (t+1 of the 2-of-3 key) the committees leave
// it out until `kq blame clear`. After every row every process is the one
// that started (same pid, not exited) and the cluster signs.
//
// The default suite runs the one-point decommitment (the remote crash of
// tss-lib v2.0.2) and an oversized integer in Ed25519 signing; KQ_LONG=1
// adds the 1,000-point vector and the ECDSA rows (range proof S = 1, mod
// proof with gcd(W, N) != 1, a ciphertext above N^2), which need ECDSA
// keygens.
func TestMaliciousMemberOnRealProcesses(t *testing.T) {
	const culprit = "n3"
	long := os.Getenv("KQ_LONG") == "1"
	c := startCluster(t, "simulator", func(o *cluster.Options) {
		o.BinDir, o.Metrics = bugsBinDir(t), true
		o.NodeBugs = map[string]string{culprit: "malicious-member"}
		// No presignature pool: its refills also advance the committee
		// rotation, which the sign rows rely on to pair n3 with each
		// honest member in turn.
		o.ExtraConfig = "presign:\n  pool: 0\n"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	pids := map[string]int{}
	for _, id := range c.IDs() {
		pids[id] = c.PID(id)
	}
	alive := func(row string) {
		t.Helper()
		for id, pid := range pids {
			if err := c.WaitExit(id, time.Millisecond); err != nil || c.PID(id) != pid {
				t.Fatalf("%s: %s is not the process that started (pid %d, now %d): %v", row, id, pid, c.PID(id), err)
			}
		}
	}
	leader, cl := rawLeaderClient(ctx, t, c)
	waitProtocol(ctx, t, c, fsm.ProtocolV2, time.Minute)

	type key struct {
		handle string
		verify verifier
	}
	keys := map[kqpb.Algorithm]key{}
	makeKey := func(name string, alg kqpb.Algorithm) {
		createKey(ctx, t, cl, name, alg)
		var k keyJSON
		kqJSON(t, c, &k, "key", "get", name)
		keys[alg] = key{issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: name, TtlMs: 600_000}), parseVerifier(t, k)}
	}
	makeKey("ed", kqpb.Algorithm_ED25519)
	if long {
		makeKey("ec", kqpb.Algorithm_ECDSA_SECP256K1)
	}
	digest := func(alg kqpb.Algorithm, s string) []byte {
		if alg == kqpb.Algorithm_ECDSA_SECP256K1 {
			d := make([]byte, 32)
			copy(d, s)
			return d
		}
		return []byte(s)
	}
	sign := func(alg kqpb.Algorithm, requestID string) *kqpb.SignResponse {
		t.Helper()
		msg := digest(alg, requestID)
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: keys[alg].handle, Digest: msg, RequestId: requestID, FullProtocol: true})
		if err != nil {
			t.Fatalf("sign %s: %v", requestID, err)
		}
		if !keys[alg].verify(msg, resp.Signature) {
			t.Fatalf("sign %s: the signature does not verify", requestID)
		}
		return resp
	}

	type row struct {
		shape malice.Shape
		sign  bool // a sign row; else a keygen row
		alg   kqpb.Algorithm
	}
	rows := []row{
		{malice.VSSOnePoint, false, kqpb.Algorithm_ED25519},
		{malice.OversizedInt, true, kqpb.Algorithm_ED25519},
	}
	if long {
		rows = append(rows,
			row{malice.VSSThousandPoints, false, kqpb.Algorithm_ED25519},
			row{malice.ModProofGCD, false, kqpb.Algorithm_ECDSA_SECP256K1},
			row{malice.RangeProofS1, true, kqpb.Algorithm_ECDSA_SECP256K1},
			row{malice.OversizedInt, true, kqpb.Algorithm_ECDSA_SECP256K1},
		)
	}
	for i, r := range rows {
		name := fmt.Sprintf("%s %s %s", r.alg, map[bool]string{false: "keygen", true: "sign"}[r.sign], r.shape)
		start := time.Now()
		check := r.shape.Check()
		if !r.sign {
			_, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: fmt.Sprintf("mal-%d", i), Algorithm: r.alg,
				RequestId: fmt.Sprintf("malice-%s-%d", r.shape, i)})
			want := fmt.Sprintf("from %q failed check %s", culprit, check)
			if status.Code(err) != codes.Aborted || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "culprits "+culprit) {
				t.Fatalf("%s: CreateKey: %v; want ABORTED naming %s and %q", name, err, culprit, want)
			}
		} else {
			// Sign until both honest members accused n3: each attempt
			// with n3 fails at its first round and is retried without
			// it. First attempts rotate through every committee (retries
			// draw from a rotation of their own), so n3 meets both.
			countLine := fmt.Sprintf("keyquorum_blame_total{check=%q,culprit=%q}", check, culprit)
			excludedLine := fmt.Sprintf("keyquorum_blame_excluded{member=%q} 1", culprit)
			excluded := false
			for j := 0; !excluded; j++ {
				if j == 24 {
					m, _ := c.Scrape(ctx, leader)
					t.Fatalf("%s: n3 not excluded after %d signatures; blame metrics:\n%s", name, j, grepLines(m, "keyquorum_blame"))
				}
				resp := sign(r.alg, fmt.Sprintf("malice-%s-%d-%d", r.shape, i, j))
				if slices.Contains(resp.Committee, culprit) {
					t.Fatalf("%s: committee %v with the malicious %s signed", name, resp.Committee, culprit)
				}
				m, err := c.Scrape(ctx, leader)
				if err != nil {
					t.Fatal(err)
				}
				excluded = strings.Contains(m, excludedLine) && strings.Contains(m, countLine)
			}
			// Excluded: honest requests get committees without n3.
			for j := range 3 {
				if resp := sign(r.alg, fmt.Sprintf("after-%d-%d", i, j)); slices.Contains(resp.Committee, culprit) {
					t.Fatalf("%s: committee %v includes the excluded %s", name, resp.Committee, culprit)
				}
			}
			if out, err := c.KQ(ctx, "blame", "clear", culprit, "-o", "json"); err != nil {
				t.Fatalf("kq blame clear: %v\n%s", err, out)
			}
			scrapeWithout(ctx, t, c, leader, excludedLine)
		}
		alive(name)
		// The cluster still signs; n3 may be in the committee again.
		sign(kqpb.Algorithm_ED25519, fmt.Sprintf("honest-%d", i))
		t.Logf("%s: culprit named, every process up, %s", name, time.Since(start).Round(time.Millisecond))
	}
}

// scrapeWithout waits until node id's metrics no longer contain line.
func scrapeWithout(ctx context.Context, t *testing.T, c *cluster.Cluster, id, line string) {
	t.Helper()
	for ctx.Err() == nil {
		if m, err := c.Scrape(ctx, id); err == nil && !strings.Contains(m, line) {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("metrics of %s still show %q", id, line)
}

// TestStalledCommitteeIsRetriedThenFails runs on the embedded simulator
// backend. A member that lost its share stalls every committee it is in:
// the leader retries such requests under another committee; when every
// committee stalls, the request fails after max_attempts with a clear
// error instead of hanging.
func TestStalledCommitteeIsRetriedThenFails(t *testing.T) {
	const attempt = 3 * time.Second
	// tss-lib's EdDSA: a FROST committee needs every member's published
	// commitments, which a member without its share never publishes, so
	// FROST would never choose n3 and nothing here would stall.
	c := startCluster(t, "simulator", func(o *cluster.Options) { o.SignTimeout, o.Ed25519 = attempt, "tss-lib" })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cl := mustTestClient(t, c, "n1")
	createKey(ctx, t, cl, "r", kqpb.Algorithm_ED25519)
	loseShare := func(id string) {
		c.StopNode(id)
		if err := os.Remove(filepath.Join(c.DataDir(), id, "shares", "r", "v1.sealed")); err != nil {
			t.Fatal(err)
		}
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
		waitReady(t, c)
	}

	loseShare("n3")
	// The leader leaves a restarted member out of committees until it
	// answers from a recorded process life (readiness), so the first signs
	// after the restart may all pass n3 by; once it is ready, the rotation
	// reaches it within three.
	retried := false
	for i := 0; !retried && i < 12; i++ {
		start := time.Now()
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "r", Digest: []byte{byte(i)}})
		if err != nil {
			t.Fatalf("sign %d with one member stalled: %v", i, err)
		}
		if slices.Contains(resp.Committee, "n3") {
			t.Fatalf("sign %d: committee %v includes the member without a share", i, resp.Committee)
		}
		if time.Since(start) >= attempt {
			retried = true
		}
	}
	if !retried {
		t.Fatal("no request needed a second committee in 12: the rotation never chose n3")
	}

	loseShare("n2") // now every 2-member committee has a member without a share
	start := time.Now()
	_, err := cl.Sign(ctx, &kqpb.SignRequest{Key: "r", Digest: []byte("doomed")})
	if status.Code(err) != codes.Unavailable || !strings.Contains(err.Error(), "3 attempts") {
		t.Fatalf("sign with every committee stalled: got %v, want UNAVAILABLE after 3 attempts", err)
	}
	if el := time.Since(start); el < 3*attempt || el > 6*attempt {
		t.Fatalf("failed after %s, want about 3 attempts of %s", el, attempt)
	}
}
