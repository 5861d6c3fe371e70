package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// lifecycleConfig shortens the lifecycle periods, so destruction runs
// within a test.
const lifecycleConfig = "lifecycle:\n  destroy_pending: 2s\naudit:\n  denial_window: 200ms\n"

// lifecycleCluster starts three in-process nodes with lifecycleConfig.
func lifecycleCluster(t *testing.T) (*nodetest.Cluster, kqpb.KeyServiceClient) {
	t.Helper()
	c := startInProcess(t, lifecycleConfig)
	cl, err := c.Client("n2") // a follower or the leader: both must behave the same
	if err != nil {
		t.Fatal(err)
	}
	return c, cl
}

func issueHandle(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, req *kqpb.IssueHandleRequest) string {
	t.Helper()
	h, err := cl.IssueHandle(ctx, req)
	if err != nil {
		t.Fatalf("issue handle %v: %v", req, err)
	}
	return h.Handle
}

// versionOf returns the key's version n.
func versionOf(t *testing.T, k *kqpb.Key, n uint32) *kqpb.KeyVersion {
	t.Helper()
	for _, v := range k.Versions {
		if v.Version == n {
			return v
		}
	}
	t.Fatalf("key %s has no version %d: %v", k.Name, n, k.Versions)
	return nil
}

// expectSigned checks that a response carries exactly the given versions,
// in order, each verifying under that version's own public key.
func expectSigned(t *testing.T, k *kqpb.Key, resp *kqpb.SignResponse, msg []byte, versions ...uint32) {
	t.Helper()
	if len(resp.Signatures) != len(versions) {
		t.Fatalf("signed by %d versions (%v), want %v", len(resp.Signatures), resp.Signatures, versions)
	}
	if resp.Version != versions[0] {
		t.Fatalf("response version %d, want %d", resp.Version, versions[0])
	}
	for i, s := range resp.Signatures {
		if s.Version != versions[i] {
			t.Fatalf("signature %d by v%d, want v%d", i, s.Version, versions[i])
		}
		pub := versionOf(t, k, s.Version).PublicKey
		if !ed25519.Verify(ed25519.PublicKey(pub), msg, s.Signature) {
			t.Fatalf("signature by v%d does not verify under v%d's public key", s.Version, s.Version)
		}
		for _, other := range k.Versions {
			if other.Version != s.Version && len(other.PublicKey) > 0 && ed25519.Verify(ed25519.PublicKey(other.PublicKey), msg, s.Signature) {
				t.Fatalf("signature by v%d also verifies under v%d", s.Version, other.Version)
			}
		}
	}
}

func getKey(ctx context.Context, t *testing.T, cl kqpb.KeyServiceClient, name string) *kqpb.Key {
	t.Helper()
	k, err := cl.GetKey(ctx, &kqpb.GetKeyRequest{Name: name})
	if err != nil {
		t.Fatalf("get %s: %v", name, err)
	}
	return k
}

// TestKeyLifecycleWalk walks one key through rotation, staged
// signing, a dual-sign window, promotion, rollback, retirement,
// revocation, refresh and destruction, checking each signature against the
// version the cluster reports and each state against GetKey.
func TestKeyLifecycleWalk(t *testing.T) {
	c, cl := lifecycleCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	k, err := cl.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "life", Algorithm: kqpb.Algorithm_ED25519, RequestId: "create-life",
		Purposes: []string{"sign", "attest"}, DeletionAllowed: true})
	if err != nil {
		t.Fatal(err)
	}
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "life", Purpose: "sign", TtlMs: 600_000})
	step := 0
	sign := func(version uint32) (*kqpb.SignResponse, []byte, error) {
		step++
		msg := []byte(fmt.Sprintf("lifecycle step %d", step))
		resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: msg, Version: version, RequestId: fmt.Sprintf("life-%d", step)})
		return resp, msg, err
	}
	mustSign := func(k *kqpb.Key, version uint32, want ...uint32) {
		t.Helper()
		resp, msg, err := sign(version)
		if err != nil {
			t.Fatalf("sign (version %d): %v", version, err)
		}
		expectSigned(t, k, resp, msg, want...)
	}
	change := func(what string, f func() (*kqpb.Key, error)) *kqpb.Key {
		t.Helper()
		k, err := f()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return k
	}
	mustSign(k, 0, 1)

	rot := &kqpb.KeyVersionRequest{Key: "life", RequestId: "rotate-1"}
	k = change("rotate", func() (*kqpb.Key, error) { return cl.RotateKey(ctx, rot) })
	if k.PrimaryVersion != 1 || versionOf(t, k, 2).State != kqpb.KeyState_KEY_STATE_STAGED {
		t.Fatalf("after rotate: primary %d, v2 %v", k.PrimaryVersion, versionOf(t, k, 2).State)
	}
	again := change("rotate again", func() (*kqpb.Key, error) { return cl.RotateKey(ctx, rot) })
	if len(again.Versions) != 2 {
		t.Fatalf("a retried rotate made another version: %d versions", len(again.Versions))
	}
	mustSign(k, 0, 1) // staged versions sign only when named
	mustSign(k, 2, 2)

	window := uint64(60_000)
	k = change("promote", func() (*kqpb.Key, error) {
		return cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "life", RequestId: "promote-2", DualSignMs: &window})
	})
	if k.PrimaryVersion != 2 || k.DualSignVersion != 1 {
		t.Fatalf("after promote: primary %d, dual-sign v%d", k.PrimaryVersion, k.DualSignVersion)
	}
	mustSign(k, 0, 2, 1) // inside the window both versions sign
	// The companion starts with its request, not after the supervisor
	// gives its first attempt up for stalled.
	au, err := c.Audit("n1")
	if err != nil {
		t.Fatal(err)
	}
	if retries, err := au.Query(ctx, &kqpb.AuditQueryRequest{Key: "life", Op: "sign_retry"}); err != nil || len(retries.Records) > 0 {
		t.Fatalf("signing needed retries (%v): %v", err, retries.GetRecords())
	}

	_, err = cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "life", RequestId: "promote-2", Version: 1})
	if status.Code(err) != codes.AlreadyExists {
		t.Fatalf("request id reused with other input: %v, want ALREADY_EXISTS", err)
	}

	k = change("rollback", func() (*kqpb.Key, error) {
		return cl.RollbackKey(ctx, &kqpb.KeyVersionRequest{Key: "life", RequestId: "rollback-1"})
	})
	if k.PrimaryVersion != 1 || k.DualSignVersion != 0 {
		t.Fatalf("after rollback: primary %d, dual-sign v%d", k.PrimaryVersion, k.DualSignVersion)
	}
	mustSign(k, 0, 1)

	none := uint64(0)
	k = change("promote without window", func() (*kqpb.Key, error) {
		return cl.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: "life", Version: 2, RequestId: "promote-2b", DualSignMs: &none})
	})
	mustSign(k, 0, 2)

	// Retired: verify only. Revoked: neither.
	oldResp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: []byte("v1 evidence"), Version: 1, RequestId: "v1-evidence"})
	if err != nil {
		t.Fatal(err)
	}
	k = change("retire v1", func() (*kqpb.Key, error) {
		return cl.RetireKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 1, RequestId: "retire-1"})
	})
	if _, _, err := sign(1); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("sign with retired v1: %v, want FAILED_PRECONDITION", err)
	}
	vr, err := cl.Verify(ctx, &kqpb.VerifyRequest{Key: "life", Version: 1, Digest: []byte("v1 evidence"), Signature: oldResp.Signature})
	if err != nil || !vr.Valid {
		t.Fatalf("verify by retired v1: %v %v, want valid", vr, err)
	}
	k = change("revoke v1", func() (*kqpb.Key, error) {
		return cl.RevokeKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 1, RequestId: "revoke-1"})
	})
	if _, err := cl.Verify(ctx, &kqpb.VerifyRequest{Key: "life", Version: 1, Digest: []byte("v1 evidence"), Signature: oldResp.Signature}); status.Code(err) != codes.FailedPrecondition {
		t.Fatalf("verify by revoked v1: %v, want FAILED_PRECONDITION", err)
	}

	// Refresh v2: same public key, new shares, old share files gone.
	pub := versionOf(t, k, 2).PublicKey
	k = change("refresh", func() (*kqpb.Key, error) {
		return cl.RefreshKey(ctx, &kqpb.KeyVersionRequest{Key: "life", RequestId: "refresh-1"})
	})
	if v := versionOf(t, k, 2); v.Epoch != 1 || !bytes.Equal(v.PublicKey, pub) {
		t.Fatalf("after refresh: epoch %d, public key changed: %x vs %x", v.Epoch, v.PublicKey, pub)
	}
	mustSign(k, 0, 2)
	waitFiles(ctx, t, c, "life", map[string]bool{"v2.sealed": false, "v2.e1.sealed": true})

	// Destroy v1 (revoked): pending, then shredded on every member.
	k = change("destroy", func() (*kqpb.Key, error) {
		return cl.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 1, RequestId: "destroy-1"})
	})
	if v := versionOf(t, k, 1); v.DestroyAtUnixNano == 0 || v.Destroyed {
		t.Fatalf("destroy is not pending: %v", v)
	}
	for ctx.Err() == nil {
		k = getKey(ctx, t, cl, "life")
		if v := versionOf(t, k, 1); v.Destroyed && len(v.SharesDestroyed) == 3 {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if v := versionOf(t, k, 1); v.State != kqpb.KeyState_KEY_STATE_DESTROYED || len(v.SharesDestroyed) != 3 {
		t.Fatalf("v1 after destruction: %v", v)
	}
	waitFiles(ctx, t, c, "life", map[string]bool{"v1.sealed": false, "v2.e1.sealed": true})

	// A scheduled destruction can be cancelled; the shares stay.
	change("rotate 3", func() (*kqpb.Key, error) {
		return cl.RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "life", RequestId: "rotate-3"})
	})
	change("retire 3", func() (*kqpb.Key, error) {
		return cl.RetireKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 3, RequestId: "retire-3"})
	})
	change("destroy 3", func() (*kqpb.Key, error) {
		return cl.DestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 3, RequestId: "destroy-3"})
	})
	k = change("cancel 3", func() (*kqpb.Key, error) {
		return cl.CancelDestroyKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "life", Version: 3, RequestId: "cancel-3"})
	})
	time.Sleep(3 * time.Second) // past the pending period
	if v := versionOf(t, getKey(ctx, t, cl, "life"), 3); v.State != kqpb.KeyState_KEY_STATE_RETIRED || v.DestroyAtUnixNano != 0 {
		t.Fatalf("v3 after cancel: %v", v)
	}
	waitFiles(ctx, t, c, "life", map[string]bool{"v3.sealed": true})
}

// waitFiles waits until every node's share directory of the key holds
// (true) or lacks (false) each named file.
func waitFiles(ctx context.Context, t *testing.T, c scenarioCluster, key string, want map[string]bool) {
	t.Helper()
	var last string
	for ctx.Err() == nil {
		last = ""
		for _, id := range c.IDs() {
			for name, present := range want {
				_, err := os.Stat(filepath.Join(c.DataDir(), id, "shares", key, name))
				if (err == nil) != present {
					last = fmt.Sprintf("%s: %s present=%v, want %v", id, name, err == nil, present)
				}
			}
		}
		if last == "" {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("share files: %s", last)
}

// TestRevokeStopsConcurrentSigning revokes an ECDSA key's only version while
// clients sign with it through the presignature pool: no signature by the
// revoked version is returned to a request sent after the revoke's
// response, in-flight requests either finished before it or fail, and the
// pool is drained.
func TestRevokeStopsConcurrentSigning(t *testing.T) {
	c, cl := lifecycleCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	createKey(ctx, t, cl, "rv", kqpb.Algorithm_ECDSA_SECP256K1)
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "rv", Purpose: "sign", TtlMs: 600_000})
	clients := make([]kqpb.KeyServiceClient, 0, 3)
	for _, id := range c.IDs() {
		kc, err := c.Client(id)
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, kc)
	}
	type outcome struct {
		start, end time.Time
		version    uint32
		err        error
	}
	var (
		mu       sync.Mutex
		outcomes []outcome
		wg       sync.WaitGroup
	)
	stop := make(chan struct{})
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; ; j++ {
				select {
				case <-stop:
					return
				default:
				}
				start := time.Now()
				resp, err := clients[i%len(clients)].Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: digest(fmt.Sprintf("c%d-%d", i, j))})
				o := outcome{start: start, end: time.Now(), err: err}
				if err == nil {
					o.version = resp.Version
				}
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				time.Sleep(20 * time.Millisecond)
			}
		}()
	}
	// Revoke once signing is under way; on a loaded machine the first full
	// protocol runs can take seconds.
	for signed := false; !signed; time.Sleep(100 * time.Millisecond) {
		if ctx.Err() != nil {
			t.Fatal("no signature before the revoke")
		}
		mu.Lock()
		for _, o := range outcomes {
			signed = signed || o.err == nil
		}
		mu.Unlock()
	}
	time.Sleep(time.Second)
	eventually(ctx, t, "revoke", func(ctx context.Context) (*kqpb.Key, error) {
		return cl.RevokeKeyVersion(ctx, &kqpb.KeyVersionRequest{Key: "rv", Version: 1, RequestId: "revoke-rv"})
	})
	revoked := time.Now()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	var before, after, unknown, refused int
	for _, o := range outcomes {
		switch code := status.Code(o.err); {
		case o.err == nil && o.start.After(revoked):
			t.Errorf("a sign sent %s after the revoke returned was signed by v%d", o.start.Sub(revoked), o.version)
		case o.err == nil:
			before++
		case o.start.After(revoked) && code == codes.FailedPrecondition:
			after++
		case o.start.After(revoked) && (code == codes.Unavailable || code == codes.DeadlineExceeded):
			unknown++ // no answer under load: not signed, and a retry meets the revoke
		case o.start.After(revoked):
			t.Errorf("sign after revoke: %v, want FAILED_PRECONDITION", o.err)
		default:
			refused++ // in flight across the revoke: failed, never signed
		}
	}
	t.Logf("signed before the revoke: %d; refused after: %d; unanswered after: %d; in flight and failed: %d", before, after, unknown, refused)
	if before == 0 || after == 0 {
		t.Fatalf("the test did not overlap signing with the revoke (before %d, after %d)", before, after)
	}
	k := getKey(ctx, t, cl, "rv")
	if k.PresigsReady+k.PresigsPending != 0 {
		t.Fatalf("presignatures of the revoked version remain: %d ready, %d pending", k.PresigsReady, k.PresigsPending)
	}
}

// TestECDSARefreshKeepsSigning refreshes an ECDSA key while its
// presignature pool is warm: the public key stays, the pool is rebuilt on
// the new shares, signatures verify independently, and the old share files
// are gone.
func TestECDSARefreshKeepsSigning(t *testing.T) {
	c, cl := lifecycleCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	k := createKey(ctx, t, cl, "rf", kqpb.Algorithm_ECDSA_SECP256K1)
	verify := parseVerifier(t, keyJSON{Name: "rf", Algorithm: "ecdsa-secp256k1", PublicKeyPEM: k.PublicKeyPem})
	h := issueHandle(ctx, t, cl, &kqpb.IssueHandleRequest{Key: "rf", Purpose: "sign", TtlMs: 600_000})
	sign := func(stage string, n int) {
		t.Helper()
		for i := range n {
			msg := digest(fmt.Sprintf("%s %d", stage, i))
			resp, err := cl.Sign(ctx, &kqpb.SignRequest{Handle: h, Digest: msg})
			if err != nil {
				t.Fatalf("%s: sign: %v", stage, err)
			}
			if !verify(msg, resp.Signature) {
				t.Fatalf("%s: signature does not verify under the unchanged public key", stage)
			}
		}
	}
	sign("before", 3)
	r, err := cl.RefreshKey(ctx, &kqpb.KeyVersionRequest{Key: "rf", RequestId: "refresh-rf"})
	if err != nil {
		t.Fatal(err)
	}
	if v := versionOf(t, r, 1); v.Epoch != 1 || !bytes.Equal(v.PublicKey, k.PublicKey) {
		t.Fatalf("after refresh: epoch %d, public key %x (was %x)", v.Epoch, v.PublicKey, k.PublicKey)
	}
	sign("after", 6)
	waitFiles(ctx, t, c, "rf", map[string]bool{"v1.sealed": false, "v1.e1.sealed": true})
}
