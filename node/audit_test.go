package node_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// auditHeadJSON is the `kq audit head -o json` contract.
type auditHeadJSON struct {
	Node           string `json:"node"`
	Seq            uint64 `json:"seq"`
	Hash           string `json:"hash"`
	CheckpointSeq  uint64 `json:"checkpoint_seq"`
	AuditKeyState  string `json:"audit_key_state"`
	AuditPublicKey string `json:"audit_public_key"`
}

// auditQueryJSON is the `kq audit query -o json` contract.
type auditQueryJSON struct {
	Records       []audit.Record `json:"records"`
	NextPageToken string         `json:"next_page_token"`
}

// TestAuditChainAcrossCrashes runs the audit trail on real kqd processes:
// records for every request and every refusal, threshold-signed
// checkpoints, server-side queries; then kills and restarts nodes and
// checks that every node's exported chain verifies, with checkpoint
// signatures checked by crypto/ed25519, that all nodes agree, that
// tampering is caught by `kq audit verify`, and that no signed message or
// digest reaches audit output, export files or logs.
func TestAuditChainAcrossCrashes(t *testing.T) {
	// Checkpoint and flush denials often, so the test sees both quickly.
	c := startCluster(t, "swtpm", func(o *cluster.Options) {
		o.ExtraConfig = "audit:\n  checkpoint_every: 16\n  denial_window: 500ms\n"
	})
	var outputs [][]byte // everything kq printed about the audit
	kqOut := func(args ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := c.KQ(ctx, args...)
		if err != nil {
			t.Fatal(err)
		}
		outputs = append(outputs, out)
		return out
	}
	head := func(node string) auditHeadJSON {
		t.Helper()
		var h auditHeadJSON
		if err := json.Unmarshal(kqOut("--node", node, "audit", "head", "-o", "json"), &h); err != nil {
			t.Fatal(err)
		}
		return h
	}
	waitFor := func(what string, d time.Duration, ok func() bool) {
		t.Helper()
		for end := time.Now().Add(d); !ok(); time.Sleep(250 * time.Millisecond) {
			if time.Now().After(end) {
				t.Fatalf("timed out after %s waiting for %s", d, what)
			}
		}
	}
	// The leader creates the audit key as soon as every member is up.
	waitFor("the audit key", 60*time.Second, func() bool { return head("n1").AuditKeyState == "active" })
	var keys = map[string]keyJSON{}
	for name, alg := range map[string]string{"ed": "ed25519", "ec": "ecdsa-secp256k1"} {
		var k keyJSON
		kqJSON(t, c, &k, "key", "create", name, "--algorithm", alg)
		keys[name] = k
	}
	marker := "kq-audit-marker-5e1f"
	var inputs [][]byte // signed messages and digests: none may leak
	signAll := func(stage string, n int) {
		t.Helper()
		for i := range n {
			msg := []byte(fmt.Sprintf("%s %s %d", marker, stage, i))
			// Not sha256(msg): the Ed25519 record holds sha256(msg) by design.
			d := digest("ecdsa " + string(msg))
			signOK(t, c, keys["ed"], parseVerifier(t, keys["ed"]), msg)
			signOK(t, c, keys["ec"], parseVerifier(t, keys["ec"]), d)
			inputs = append(inputs, msg, d)
		}
	}
	signAll("first", 3)

	// Refusals before the log: aggregated, then chained.
	cl := mustTestClient(t, c, "n2")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for i := range 3 {
		cl.Sign(ctx, &kqpb.SignRequest{Key: fmt.Sprintf("nope-%d", i), Digest: digest("x")})
	}
	cl.Sign(ctx, &kqpb.SignRequest{Key: "ec", Digest: []byte(marker)}) // not 32 bytes
	cl.Sign(ctx, &kqpb.SignRequest{Key: "ed", Digest: []byte("x"), RequestId: "_audit-checkpoint-1"})

	query := func(args ...string) auditQueryJSON {
		t.Helper()
		var q auditQueryJSON
		if err := json.Unmarshal(kqOut(append([]string{"--node", "n1", "audit", "query", "-o", "json"}, args...)...), &q); err != nil {
			t.Fatal(err)
		}
		return q
	}
	waitFor("aggregated denials", 30*time.Second, func() bool {
		var notFound, reserved uint64
		// The unknown keys are refused when their handles are asked for.
		denied := query("--op", "sign", "--outcome", "denied", "--limit", "1000").Records
		denied = append(denied, query("--op", "issue_handle", "--outcome", "denied", "--limit", "1000").Records...)
		for _, r := range denied {
			n := max(r.Count, 1) // an entry the FSM refused is one record
			switch {
			case strings.Contains(r.Reason, "unknown key"):
				notFound += n
			case r.Count > 0 && strings.Contains(r.Reason, "reserved"):
				reserved += r.Count
			}
		}
		return notFound == 3 && reserved == 1
	})
	waitFor("a checkpoint", 60*time.Second, func() bool { return head("n1").CheckpointSeq > 0 })

	q := query("--key", "ed", "--op", "sign", "--outcome", "ok")
	if len(q.Records) != 3 {
		t.Fatalf("query --key ed --op sign: %d records, want 3", len(q.Records))
	}
	for i, r := range q.Records {
		sum := digest(string(inputs[2*i]))
		if r.InputSHA256 != hex.EncodeToString(sum) || !strings.Contains(r.Actor, "/client/") || r.RequestID == "" || r.Version != 1 {
			t.Fatalf("sign record %+v", r)
		}
	}
	page := query("--limit", "2")
	if len(page.Records) != 2 || page.NextPageToken == "" {
		t.Fatalf("first page: %d records, token %q", len(page.Records), page.NextPageToken)
	}
	next := query("--limit", "2", "--page-token", page.NextPageToken)
	if len(next.Records) == 0 || next.Records[0].Seq != page.Records[1].Seq+1 {
		t.Fatalf("second page does not continue the first")
	}

	// Crashes: one node, then all of them.
	c.Kill("n3")
	waitFor("a leader among n1 and n2", 30*time.Second, func() bool {
		var st struct {
			Leader string `json:"leader"`
		}
		kqJSON(t, c, &st, "--node", "n1", "status")
		return st.Leader == "n1" || st.Leader == "n2"
	})
	signAll("n3 down", 2)
	if err := c.StartNode("n3"); err != nil {
		t.Fatal(err)
	}
	waitReady(t, c)
	for _, id := range c.IDs() {
		c.Kill(id)
	}
	for _, id := range c.IDs() {
		if err := c.StartNode(id); err != nil {
			t.Fatal(err)
		}
	}
	waitReady(t, c)
	signAll("restarted", 2)

	// Every node converges on one chain; each export verifies alone.
	var want auditHeadJSON
	waitFor("every node at the same head", 60*time.Second, func() bool {
		heads := map[string]bool{}
		for _, id := range c.IDs() {
			want = head(id)
			heads[want.Hash] = true
		}
		return len(heads) == 1
	})
	pub, err := hex.DecodeString(want.AuditPublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		t.Fatalf("audit public key %q", want.AuditPublicKey)
	}
	dir := t.TempDir()
	chains := map[string][]audit.Record{}
	for _, id := range c.IDs() {
		path := filepath.Join(dir, id+".jsonl")
		kqOut("--node", id, "audit", "export", "--file", path)
		var rep audit.Report
		if err := json.Unmarshal(kqOut("--node", id, "audit", "verify", "--from-file", path, "-o", "json"), &rep); err != nil {
			t.Fatal(err)
		}
		if rep.FirstSeq != 1 || !rep.SignaturesChecked || rep.Checkpoints == 0 {
			t.Fatalf("%s: verify report %+v", id, rep)
		}
		chains[id] = readChain(t, path)
		checkpointsVerifyIndependently(t, id, chains[id], pub)
	}
	for _, id := range c.IDs()[1:] {
		a, b := chains["n1"], chains[id]
		n := min(len(a), len(b))
		for i := range n {
			if a[i].Hash != b[i].Hash {
				t.Fatalf("n1 and %s disagree at seq %d", id, a[i].Seq)
			}
		}
		if n < int(want.Seq) {
			t.Fatalf("%s's export holds %d records, the head is %d", id, n, want.Seq)
		}
	}

	t.Run("TamperedExportFailsNamingTheRecord", func(t *testing.T) {
		lines := strings.Split(strings.TrimSpace(string(must(os.ReadFile(filepath.Join(dir, "n1.jsonl"))))), "\n")
		for name, tc := range map[string]struct {
			edit func([]string) []string
			seq  string
		}{
			"flip one byte": {func(l []string) []string {
				l[9] = strings.Replace(l[9], `"actor":"`, `"actor":"X`, 1)
				return l
			}, "seq 10"},
			"delete one record":   {func(l []string) []string { return append(l[:9:9], l[10:]...) }, "seq 11"},
			"reorder two records": {func(l []string) []string { l[9], l[10] = l[10], l[9]; return l }, "seq 11"},
		} {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".jsonl")
			edited := tc.edit(append([]string(nil), lines...))
			if err := os.WriteFile(path, []byte(strings.Join(edited, "\n")+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, err := c.KQ(ctx, "audit", "verify", "--from-file", path, "--public-key", want.AuditPublicKey)
			cancel()
			if err == nil || !strings.Contains(err.Error(), "record "+tc.seq+" ") {
				t.Errorf("%s: kq audit verify: %v, want a failure naming %s", name, err, tc.seq)
			}
		}
	})

	t.Run("NoSignedInputInAuditOutputFilesOrLogs", func(t *testing.T) {
		var leaks [][]byte
		for _, in := range inputs {
			leaks = append(leaks, in, []byte(hex.EncodeToString(in)), []byte(base64.StdEncoding.EncodeToString(in)[:24]),
				[]byte(base64.RawURLEncoding.EncodeToString(in)[:24]))
		}
		leaks = append(leaks, []byte(marker), []byte(hex.EncodeToString([]byte(marker))))
		check := func(where string, data []byte) {
			for _, l := range leaks {
				if bytes.Contains(data, l) {
					t.Errorf("signed input (%.24q...) found in %s", l, where)
				}
			}
		}
		for i, out := range outputs {
			check(fmt.Sprintf("kq output #%d", i), out)
		}
		scanned := 0
		for _, root := range []string{dir, c.LogsDir(), c.DataDir()} {
			eachFile(t, root, func(path string, data []byte) {
				if root == c.DataDir() && !strings.Contains(path, string(filepath.Separator)+"audit"+string(filepath.Separator)) {
					return // the raft log carries inputs to the committee, by design
				}
				scanned++
				check(path, data)
			})
		}
		if scanned < 3+len(c.IDs()) {
			t.Fatalf("scanned only %d files", scanned)
		}
	})
}

func readChain(t *testing.T, path string) []audit.Record {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []audit.Record
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var r audit.Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// checkpointsVerifyIndependently checks each checkpoint with crypto/ed25519
// alone: the signature over the documented message, and the head it signs
// being the hash of the record it names.
func checkpointsVerifyIndependently(t *testing.T, id string, chain []audit.Record, pub ed25519.PublicKey) {
	t.Helper()
	n := 0
	for _, r := range chain {
		cp := r.Checkpoint
		if cp == nil {
			continue
		}
		sig, _ := hex.DecodeString(cp.Signature)
		if !ed25519.Verify(pub, audit.CheckpointMessage(cp.Seq, cp.Head), sig) || chain[cp.Seq-1].Hash != cp.Head {
			t.Fatalf("%s: checkpoint in seq %d does not verify", id, r.Seq)
		}
		n++
	}
	if n == 0 {
		t.Fatalf("%s: no checkpoint in the chain", id)
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
