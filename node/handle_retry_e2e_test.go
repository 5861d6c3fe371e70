package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestClientMadeHandleSurvivesRetry: a client that makes its own handle
// token sends only its id and proof. A retry of the request, through
// another node as a client does after a lost reply, returns the same
// handle instead of ALREADY_EXISTS; the token signs; the secret is nowhere
// in the cluster; and every way of getting the id and proof wrong is
// refused with its code, leaving the first handle as it was.
func TestClientMadeHandleSurvivesRetry(t *testing.T) {
	c := startInProcess(t, "")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader := leaderOf(ctx, t, c)
	var follower string
	for _, id := range c.IDs() {
		if id != leader {
			follower = id
			break
		}
	}
	viaLeader, err := c.Client(leader)
	if err != nil {
		t.Fatal(err)
	}
	viaFollower, err := c.Client(follower)
	if err != nil {
		t.Fatal(err)
	}
	k := createKey(ctx, t, viaLeader, "hk", kqpb.Algorithm_ED25519)

	tok, err := handle.New()
	if err != nil {
		t.Fatal(err)
	}
	proof := tok.Proof()
	req := &kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, MaxUses: 3, RequestId: "issue-1",
		HandleId: tok.ID(), TokenProof: proof[:]}
	first, err := viaFollower.IssueHandle(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	again, err := viaLeader.IssueHandle(ctx, req)
	if err != nil {
		t.Fatalf("retry of a client-made handle: %v", err)
	}
	if first.Id != tok.ID() || again.Id != first.Id || again.ExpiresAtUnixNano != first.ExpiresAtUnixNano || again.MaxUses != 3 {
		t.Fatalf("retry returned another handle: first %v, again %v", first, again)
	}
	if first.Handle != "" || again.Handle != "" {
		t.Fatalf("the server echoed a token it should not know: %q, %q", first.Handle, again.Handle)
	}

	msg := []byte("signed with a client-made handle")
	sig, err := viaFollower.Sign(ctx, &kqpb.SignRequest{Handle: tok.Bearer(), Digest: msg})
	if err != nil {
		t.Fatalf("sign with the client-made token: %v", err)
	}
	if !ed25519.Verify(ed25519.PublicKey(k.PublicKey), msg, sig.Signature) {
		t.Fatal("signature does not verify under the key")
	}

	other, err := handle.New()
	if err != nil {
		t.Fatal(err)
	}
	otherProof := other.Proof()
	cases := []struct {
		name string
		req  *kqpb.IssueHandleRequest
		code codes.Code
		want string
	}{
		{"same request id, another token",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, MaxUses: 3, RequestId: "issue-1", HandleId: other.ID(), TokenProof: otherProof[:]},
			codes.AlreadyExists, tok.ID()},
		{"another request id, the same handle id",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, RequestId: "issue-2", HandleId: tok.ID(), TokenProof: otherProof[:]},
			codes.AlreadyExists, "taken"},
		{"id without proof",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, RequestId: "issue-3", HandleId: other.ID()},
			codes.InvalidArgument, "token_proof"},
		{"proof without id",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, RequestId: "issue-4", TokenProof: otherProof[:]},
			codes.InvalidArgument, "handle_id"},
		{"id not hex",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, RequestId: "issue-5", HandleId: "not-hex-not-hex!", TokenProof: otherProof[:]},
			codes.InvalidArgument, "16 hex digits"},
		{"short proof",
			&kqpb.IssueHandleRequest{Key: "hk", Purpose: "sign", TtlMs: 600_000, RequestId: "issue-6", HandleId: other.ID(), TokenProof: otherProof[:31]},
			codes.InvalidArgument, "32 bytes"},
	}
	for _, tc := range cases {
		_, err := viaFollower.IssueHandle(ctx, tc.req)
		if status.Code(err) != tc.code || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want %v naming %q", tc.name, err, tc.code, tc.want)
		}
	}
	// None of them touched the first handle: it signs twice more (its
	// three uses), then is spent.
	for i := range 3 {
		_, err := viaLeader.Sign(ctx, &kqpb.SignRequest{Handle: tok.Bearer(), Digest: []byte{byte(i)}})
		if i < 2 && err != nil {
			t.Fatalf("use %d of the first handle after the refusals: %v", i+2, err)
		}
		if i == 2 && status.Code(err) != codes.PermissionDenied {
			t.Fatalf("a fourth use of a 3-use handle: got %v, want PermissionDenied", err)
		}
	}
	// The refused token signs nothing.
	if _, err := viaLeader.Sign(ctx, &kqpb.SignRequest{Handle: other.Bearer(), Digest: msg}); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("sign with the refused token: got %v, want PermissionDenied", err)
	}

	// The secret never left this process: no file of the cluster, logs
	// included, holds it.
	secret := []byte(tokenSecret(tok.Bearer()))
	eachFile(t, filepath.Dir(c.DataDir()), func(path string, data []byte) {
		if bytes.Contains(data, secret) {
			t.Errorf("the client-made token's secret is in %s", path)
		}
	})
}
