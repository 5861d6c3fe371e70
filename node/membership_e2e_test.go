package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/cluster"
)

// nodeState is `kq node status ID -o json`'s contract.
type nodeState struct {
	ID    string `json:"id"`
	State string `json:"state"`
	Raft  string `json:"raft"`
}

// waitNodeState polls `kq node status` until id is in state want.
func waitNodeState(ctx context.Context, t *testing.T, c *cluster.Cluster, id, want string) nodeState {
	t.Helper()
	var last nodeState
	var lastErr error
	for ctx.Err() == nil {
		out, err := c.KQ(ctx, "-o", "json", "node", "status", id)
		lastErr = err
		if err == nil {
			if err := json.Unmarshal(out, &last); err != nil {
				t.Fatalf("kq node status %s -o json: %s: %v", id, out, err)
			}
			if last.ID != id {
				t.Fatalf("kq node status %s: id %q", id, last.ID)
			}
			if last.State == want {
				return last
			}
		}
		time.Sleep(300 * time.Millisecond)
	}
	t.Fatalf("%s never %s: last %+v (%v)", id, want, last, lastErr)
	return last
}

// signer signs continuously with one key until stopped, each request
// retried under its own id until it succeeds, and checks every signature.
type signer struct {
	cl     kqpb.KeyServiceClient
	handle string
	pub    ed25519.PublicKey

	mu         sync.Mutex
	signed     int
	bad        []string
	committees map[string]int
	samples    []signedSample // every fifth signature, for openssl
}

func (s *signer) run(ctx context.Context, stop <-chan struct{}) {
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		msg := []byte(fmt.Sprintf("membership %d", i))
		req := &kqpb.SignRequest{Handle: s.handle, Digest: msg, RequestId: fmt.Sprintf("m-%d", i)}
		for ctx.Err() == nil {
			cctx, cancel := context.WithTimeout(ctx, 20*time.Second)
			resp, err := s.cl.Sign(cctx, req)
			cancel()
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			s.mu.Lock()
			if !ed25519.Verify(s.pub, msg, resp.Signature) {
				s.bad = append(s.bad, req.RequestId)
			}
			if i%5 == 0 {
				s.samples = append(s.samples, signedSample{msg, resp.Signature})
			}
			s.signed++
			for _, m := range resp.Committee {
				s.committees[m]++
			}
			s.mu.Unlock()
			break
		}
	}
}

// TestReplaceNodeOnRealProcesses replaces n3 by a new node n4 in a 3-node
// cluster while a client signs: n4 joins as a non-voter, receives a share
// of every key by resharing from the live holders, votes only after, and
// n3 leaves Raft and shreds its shares. Every public key is unchanged,
// every signature verifies, n4 signs in committees, and n3's share files
// are gone; openssl verifies a sample of the signatures.
func TestReplaceNodeOnRealProcesses(t *testing.T) {
	c := startCluster(t, "simulator")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	// Through n1, which stays: n3 may be the leader now, and once removed
	// it serves no one.
	cl, err := c.Client("n1")
	if err != nil {
		t.Fatal(err)
	}
	k := createKey(ctx, t, cl, "mk", kqpb.Algorithm_ED25519)
	before := map[string][]byte{}
	keys, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kk := range keys.Keys {
		before[kk.Name] = kk.PublicKey
	}
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "mk", Purpose: "sign", TtlMs: 600_000})
	s := &signer{cl: cl, handle: h, pub: ed25519.PublicKey(k.PublicKey), committees: map[string]int{}}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() { defer close(done); s.run(ctx, stop) }()

	n4, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.KQ(ctx, "-o", "json", "node", "replace", "n3", "--with", n4)
	if err != nil {
		t.Fatal(err)
	}
	var st nodeState
	if err := json.Unmarshal(out, &st); err != nil || st.ID != n4 || st.State != "joining" {
		t.Fatalf("kq node replace -o json: %s (%v), want %s joining", out, err, n4)
	}
	start := time.Now()
	if err := c.StartNode(n4); err != nil {
		t.Fatal(err)
	}
	if early := watchPromotion(ctx, t, c, n4); early != "" {
		t.Fatal(early)
	}
	waitNodeState(ctx, t, c, "n3", "removed")
	t.Logf("replace took %s", time.Since(start))

	// n4 signs in committees: keep signing until it served in one.
	for ctx.Err() == nil {
		s.mu.Lock()
		served := s.committees[n4]
		s.mu.Unlock()
		if served > 0 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	<-done
	s.mu.Lock()
	if len(s.bad) > 0 || s.signed == 0 || s.committees[n4] == 0 {
		t.Fatalf("signed %d, bad %v, committees %v", s.signed, s.bad, s.committees)
	}
	s.mu.Unlock()
	opensslVerifyEd25519(t, s.pub, s.samples)

	keys, err = cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, kk := range keys.Keys {
		if !bytes.Equal(before[kk.Name], kk.PublicKey) {
			t.Fatalf("%s: public key changed", kk.Name)
		}
		if want := []string{"n1", "n2", n4}; !slices.Equal(kk.Members, want) {
			t.Fatalf("%s: holders %v, want %v", kk.Name, kk.Members, want)
		}
	}
	// n3 shredded every share file.
	for ctx.Err() == nil {
		left := 0
		_ = filepath.WalkDir(filepath.Join(c.DataDir(), "n3", "shares"), func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && filepath.Ext(p) == ".sealed" {
				left++
			}
			return nil
		})
		if left == 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatal("n3 kept share files")
	}
	// kq status lists the members now.
	out, err = c.KQ(ctx, "-o", "json", "status")
	if err != nil {
		t.Fatal(err)
	}
	var sv struct {
		Members []string `json:"members"`
	}
	if err := json.Unmarshal(out, &sv); err != nil || !slices.Equal(sv.Members, []string{"n1", "n2", n4}) {
		t.Fatalf("kq status members: %s (%v)", out, err)
	}
}

// watchPromotion polls the leader's view of a joining member until it is
// a voter both in the replicated membership and in raft's configuration.
// It returns the first observation of a raft voter whose shares were not
// all confirmed yet (the membership still says joining or resharing), or
// "" when there was none. The leader reads the membership before raft's
// configuration, and a correct leader adds the voter only after the entry
// that confirms the shares applied, so such an observation is a bug.
func watchPromotion(ctx context.Context, t *testing.T, c *cluster.Cluster, id string) string {
	t.Helper()
	early := ""
	for ctx.Err() == nil {
		out, err := c.KQ(ctx, "-o", "json", "node", "status", id)
		var st nodeState
		if err == nil && json.Unmarshal(out, &st) == nil {
			if st.Raft == "voter" && st.State != "voter" && early == "" {
				early = fmt.Sprintf("%s is a raft voter while its membership is %s: promoted before its shares were confirmed", id, st.State)
			}
			if st.Raft == "voter" && st.State == "voter" {
				return early
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("%s never became a voter (%s)", id, early)
	return early
}

// TestEarlyVoterIsCaught runs the early-voter bug (kqd_bugs): the leader
// makes a joining node a raft voter before its shares of every key are
// confirmed. The promotion watch that passes the correct build must see it.
func TestEarlyVoterIsCaught(t *testing.T) {
	c := startCluster(t, "simulator", func(o *cluster.Options) {
		o.BinDir, o.Bugs = bugsBinDir(t), "early-voter"
	})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	_, cl := waitLeaderClient(ctx, t, c)
	// Keys to reshare keep the new node in resharing for a while.
	for _, name := range []string{"e1", "e2"} {
		createKey(ctx, t, cl, name, kqpb.Algorithm_ED25519)
	}
	n4, err := c.AddNode(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.KQ(ctx, "node", "add", n4); err != nil {
		t.Fatal(err)
	}
	if err := c.StartNode(n4); err != nil {
		t.Fatal(err)
	}
	if early := watchPromotion(ctx, t, c, n4); early == "" {
		t.Fatal("the early-voter bug went unseen: the watch saw no raft voter before its shares were confirmed")
	}
}
