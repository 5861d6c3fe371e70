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
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestReshareOnRealProcesses changes an Ed25519 key's threshold with `kq
// key reshare`, back again through the RPC, then refreshes it with one of
// the three nodes killed: the refresh completes with the two live holders,
// the public key never changes, and every signature verifies. The killed
// node, restarted, shreds its useless share files and is given a new share.
func TestReshareOnRealProcesses(t *testing.T) {
	c := startCluster(t, "simulator")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	leader, cl := waitLeaderClient(ctx, t, c)
	k := createKey(ctx, t, cl, "rs", kqpb.Algorithm_ED25519)
	pub := k.PublicKey
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "rs", Purpose: "sign", TtlMs: 600_000})
	sign := func(stage string) {
		t.Helper()
		msg := []byte("reshare " + stage)
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: msg})
		if err != nil {
			t.Fatalf("%s: sign: %v", stage, err)
		}
		if !ed25519.Verify(ed25519.PublicKey(pub), msg, resp.Signature) {
			t.Fatalf("%s: signature does not verify under the unchanged public key", stage)
		}
	}
	check := func(stage string, k *kqpb.Key, threshold uint32, members []string, epoch uint32) {
		t.Helper()
		v := versionOf(t, k, 1)
		if k.Threshold != threshold || !slices.Equal(k.Members, members) || v.Epoch != epoch || !bytes.Equal(v.PublicKey, pub) {
			t.Fatalf("%s: threshold %d members %v epoch %d public key %x; want %d %v %d %x", stage, k.Threshold, k.Members, v.Epoch, v.PublicKey, threshold, members, epoch, pub)
		}
	}
	sign("before")

	// The CLI, through any node: followers answer UNAVAILABLE and kq
	// moves on to the leader.
	out, err := c.KQ(ctx, "-o", "json", "key", "reshare", "rs", "--threshold", "2", "--request-id", "to-2")
	if err != nil {
		t.Fatal(err)
	}
	var view struct {
		Threshold uint32   `json:"threshold"`
		Members   []string `json:"members"`
	}
	if err := json.Unmarshal(out, &view); err != nil || view.Threshold != 2 {
		t.Fatalf("kq key reshare -o json: %s (%v), want threshold 2", out, err)
	}
	check("threshold 2", getKey(ctx, t, cl, "rs"), 2, c.IDs(), 1)
	sign("threshold 2")

	conn, err := c.ClientAs("client", leader)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ms := kqpb.NewMembershipServiceClient(conn)
	k, err = ms.ReshareKey(ctx, &kqpb.ReshareKeyRequest{Key: "rs", Threshold: 1, RequestId: "to-1"})
	if err != nil {
		t.Fatal(err)
	}
	check("threshold 1", k, 1, c.IDs(), 2)
	// A threshold the holders cannot meet changes nothing.
	if _, err := ms.ReshareKey(ctx, &kqpb.ReshareKeyRequest{Key: "rs", Threshold: 3, RequestId: "to-3"}); err == nil {
		t.Fatal("threshold 3 of 3 holders accepted")
	}
	check("refused", getKey(ctx, t, cl, "rs"), 1, c.IDs(), 2)

	// One holder dies: a refresh goes ahead with the two live ones.
	var dead string
	for _, id := range c.IDs() {
		if id != leader {
			dead = id
			break
		}
	}
	c.Kill(dead)
	live := slices.DeleteFunc(c.IDs(), func(id string) bool { return id == dead })
	// The leader sees a refused connection within a heartbeat or two.
	time.Sleep(3 * time.Second)
	if k, err = cl.RefreshKey(ctx, &kqpb.KeyVersionRequest{Key: "rs", RequestId: "refresh-without-one"}); err != nil {
		t.Fatalf("refresh with %s dead: %v", dead, err)
	}
	check("refresh without "+dead, k, 1, live, versionOf(t, k, 1).Epoch)
	sign("after the refresh")

	// Back, the left-out node shreds its useless shares, and the
	// membership reconciler reshares the key to it again: it holds only a
	// share of the newest epoch.
	left := versionOf(t, k, 1).Epoch
	if err := c.StartNode(dead); err != nil {
		t.Fatal(err)
	}
	var files []string
	for ctx.Err() == nil {
		k = getKey(ctx, t, cl, "rs")
		files = files[:0]
		ents, _ := os.ReadDir(filepath.Join(c.DataDir(), dead, "shares", "rs"))
		for _, e := range ents {
			files = append(files, e.Name())
		}
		if v := versionOf(t, k, 1); len(k.Members) == 3 && v.Epoch > left && slices.Equal(files, []string{fmt.Sprintf("v1.e%d.sealed", v.Epoch)}) {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	check("back to three holders", k, 1, c.IDs(), versionOf(t, k, 1).Epoch)
	if v := versionOf(t, k, 1); !slices.Equal(files, []string{fmt.Sprintf("v1.e%d.sealed", v.Epoch)}) {
		t.Fatalf("%s holds %v, want only the share of epoch %d", dead, files, v.Epoch)
	}
	sign("after the restart")
}
