package node_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestMisuseIsRefusedPreciselyAndChangesNothing drives every kind of
// misuse through the gRPC API of a follower: each gets its precise status
// code and reason, the keys are as they were before, and each refusal is
// in the audit trail.
func TestMisuseIsRefusedPreciselyAndChangesNothing(t *testing.T) {
	c, cl := lifecycleCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, req := range []*kqpb.CreateKeyRequest{
		{Name: "ec", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, RequestId: "create-ec"},
		{Name: "ed", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-ed", Purposes: []string{"sign", "attest"}},
		{Name: "old", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-old"},
	} {
		if _, err := cl.CreateKey(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	issue := func(key, purpose string, ttl uint64, uses uint32) string {
		return issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: key, Purpose: purpose, TtlMs: ttl, MaxUses: uses})
	}
	ec, ed, attest := issue("ec", "sign", 600_000, 0), issue("ed", "sign", 600_000, 0), issue("ed", "attest", 600_000, 0)
	expired := issue("ed", "sign", 1, 0)
	revoked := issue("ed", "sign", 600_000, 0)
	if _, err := cl.RevokeHandle(ctx, &kqpb.RevokeHandleRequest{Handle: revoked}); err != nil {
		t.Fatal(err)
	}
	once := issue("ed", "sign", 600_000, 1)
	if _, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: once, Digest: []byte("first use")}); err != nil {
		t.Fatal(err)
	}
	// "old": v1 revoked after a rotation; v2 retired after v3 is promoted.
	oldH := issue("old", "sign", 600_000, 0)
	for _, step := range []func() error{
		func() error {
			_, err := cl.RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "old", RequestId: "r2"})
			return err
		},
		func() error {
			_, err := cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "old", RequestId: "p2"})
			return err
		},
		func() error {
			_, err := cl.RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "old", RequestId: "r3"})
			return err
		},
		func() error {
			_, err := cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "old", RequestId: "p3"})
			return err
		},
		func() error {
			_, err := cl.RevokeKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "old", Version: 1, RequestId: "x1"})
			return err
		},
		func() error {
			_, err := cl.RetireKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "old", Version: 2, RequestId: "x2"})
			return err
		},
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	ms := uint32(3)
	if _, err := cl.SetKeyPolicy(ctx, &kqpb.SetKeyPolicyRequest{Key: "old", MinSignVersion: &ms, RequestId: "floor"}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // let the 1 ms handle expire in replicated time

	msg := []byte("misuse")
	d32 := digest("misuse")
	cases := []struct {
		name   string
		req    *kqpb.SignRequest
		code   codes.Code
		reason string
	}{
		{"no handle", &kqpb.SignRequest{Key: "ed", Digest: msg}, codes.InvalidArgument, "handle is required"},
		{"malformed handle", &kqpb.SignRequest{Handle: "kqh_nothex_x", Digest: msg}, codes.InvalidArgument, "malformed handle"},
		{"forged handle", &kqpb.SignRequest{Handle: ed[:len(ed)-4] + "AAAA", Digest: msg}, codes.PermissionDenied, "not recognised"},
		{"unknown handle", &kqpb.SignRequest{Handle: "kqh_0123456789abcdef_secret", Digest: msg}, codes.PermissionDenied, "not recognised"},
		{"wrong key", &kqpb.SignRequest{Handle: ed, Key: "ec", Digest: d32}, codes.PermissionDenied, "is for key"},
		{"wrong purpose", &kqpb.SignRequest{Handle: attest, Purpose: "sign", Digest: msg}, codes.PermissionDenied, "is for purpose"},
		{"expired handle", &kqpb.SignRequest{Handle: expired, Digest: msg}, codes.PermissionDenied, "expired"},
		{"revoked handle", &kqpb.SignRequest{Handle: revoked, Digest: msg}, codes.PermissionDenied, "revoked"},
		{"used-up handle", &kqpb.SignRequest{Handle: once, Digest: msg}, codes.PermissionDenied, "used up"},
		{"20-byte digest for ECDSA", &kqpb.SignRequest{Handle: ec, Digest: d32[:20]}, codes.InvalidArgument, "byte digest"},
		{"empty Ed25519 message", &kqpb.SignRequest{Handle: ed, Digest: nil}, codes.InvalidArgument, "signs a message"},
		{"revoked version", &kqpb.SignRequest{Handle: oldH, Version: 1, Digest: msg}, codes.FailedPrecondition, "revoked"},
		{"retired version", &kqpb.SignRequest{Handle: oldH, Version: 2, Digest: msg}, codes.FailedPrecondition, "retired"},
		{"unknown version", &kqpb.SignRequest{Handle: oldH, Version: 9, Digest: msg}, codes.NotFound, "no version 9"},
		{"request id with '#'", &kqpb.SignRequest{Handle: ed, Digest: msg, RequestId: "a#b"}, codes.InvalidArgument, "may not contain"},
	}
	before := snapshotKeys(ctx, t, cl)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cl.Sign(ctx, tc.req)
			if status.Code(err) != tc.code || !strings.Contains(strings.ToLower(status.Convert(err).Message()), strings.ToLower(tc.reason)) {
				t.Fatalf("got %v, want %v mentioning %q", err, tc.code, tc.reason)
			}
		})
	}
	// Lifecycle misuse.
	lifecycle := []struct {
		name string
		call func() error
		code codes.Code
	}{
		{"promote a revoked version", func() error {
			_, err := cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "old", Version: 1, RequestId: "m1"})
			return err
		}, codes.FailedPrecondition},
		{"rollback below the floor", func() error {
			_, err := cl.RollbackKey(ctx, &kqpb.KeyVersionRequest{Key: "old", Version: 2, RequestId: "m2"})
			return err
		}, codes.FailedPrecondition},
		{"destroy without deletion_allowed", func() error {
			_, err := cl.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "old", Version: 1, RequestId: "m3"})
			return err
		}, codes.FailedPrecondition},
		{"handle for a purpose the key lacks", func() error {
			_, err := cl.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "ec", Purpose: "attest", TtlMs: 1000})
			return err
		}, codes.InvalidArgument},
		{"handle ttl over the cap", func() error {
			_, err := cl.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: "ec", Purpose: "sign", TtlMs: 48 * 3_600_000})
			return err
		}, codes.InvalidArgument},
		{"floor above the primary", func() error {
			v := uint32(4)
			_, err := cl.SetKeyPolicy(ctx, &kqpb.SetKeyPolicyRequest{Key: "old", MinSignVersion: &v, RequestId: "m4"})
			return err
		}, codes.InvalidArgument},
		{"rotate an unknown key", func() error {
			_, err := cl.RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "nope", RequestId: "m5"})
			return err
		}, codes.NotFound},
	}
	for _, tc := range lifecycle {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); status.Code(err) != tc.code {
				t.Fatalf("got %v, want %v", err, tc.code)
			}
		})
	}
	after := snapshotKeys(ctx, t, cl)
	for name, k := range before {
		if !proto.Equal(k, after[name]) {
			t.Errorf("key %s changed under refused requests:\nbefore %v\nafter  %v", name, k, after[name])
		}
	}

	// Every refusal is evidence: the FSM's in the chain directly, the
	// node's aggregated per window.
	time.Sleep(time.Second) // past the denial window
	au, err := c.Audit("n1")
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for tok := ""; ; {
		resp, err := au.Query(ctx, &kqpb.AuditQueryRequest{Outcome: "denied", Limit: 1000, PageToken: tok})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.Records {
			reasons = append(reasons, strings.ToLower(r.Reason))
		}
		if tok = resp.NextPageToken; tok == "" {
			break
		}
	}
	for _, tc := range cases {
		found := false
		for _, r := range reasons {
			if strings.Contains(r, strings.ToLower(tc.reason)) {
				found = true
			}
		}
		if !found {
			t.Errorf("no denied audit record for %q (reason %q); records: %q", tc.name, tc.reason, reasons)
		}
	}
	for _, tok := range []string{ec, ed, attest, once} {
		secret := tokenSecret(tok)
		for _, r := range reasons {
			if strings.Contains(r, strings.ToLower(secret)) {
				t.Fatalf("an audit record carries a handle's secret")
			}
		}
	}
}

// snapshotKeys reads every key, without the presignature counts, which
// move on their own.
func snapshotKeys(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient) map[string]*kqpb.Key {
	t.Helper()
	resp, err := cl.ListKeys(ctx, &kqpb.ListKeysRequest{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*kqpb.Key{}
	for _, k := range resp.Keys {
		k.PresigsReady, k.PresigsPending = 0, 0
		out[k.Name] = k
	}
	return out
}
