package client_test

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
	"time"

	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

func dialFake(t *testing.T, p *pki, endpoints ...string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{Endpoints: endpoints, CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey,
		ConnectTimeout: 500 * time.Millisecond, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestFailoverRetriesWithTheSameRequestID(t *testing.T) {
	p := newPKI(t)
	flaky, good := startFake(t, p), startFake(t, p)
	flaky.unavailable = 1 << 30 // a node cut off from the leader
	c := dialFake(t, p, deadAddr(t), flaky.addr, good.addr)
	r, err := c.Sign(context.Background(), &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	if len(good.signIDs) != 1 || r.GetRequestId() != good.signIDs[0] {
		t.Fatalf("good node saw %v, response carries %q", good.signIDs, r.GetRequestId())
	}
	for _, id := range flaky.signIDs {
		if id != good.signIDs[0] {
			t.Fatalf("a retry changed the request id: %q then %q", id, good.signIDs[0])
		}
	}
	// The next call starts at the endpoint that answered.
	if _, err := c.Sign(context.Background(), &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("again")}); err != nil {
		t.Fatal(err)
	}
	if len(good.signIDs) != 2 {
		t.Fatalf("second call did not go to the node that answered: good saw %d calls", len(good.signIDs))
	}
}

func TestCallerRequestIDIsKept(t *testing.T) {
	p := newPKI(t)
	f := startFake(t, p)
	f.unavailable = 2
	c := dialFake(t, p, f.addr)
	req := &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("x"), RequestId: "mine-1"}
	if _, err := c.Sign(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if strings.Join(f.signIDs, ",") != "mine-1,mine-1,mine-1" {
		t.Fatalf("request ids sent: %v", f.signIDs)
	}
}

func TestErrorsMatchSentinelsAndAreNotRetried(t *testing.T) {
	p := newPKI(t)
	for _, tc := range []struct {
		code codes.Code
		want error
	}{
		{codes.PermissionDenied, client.ErrPermissionDenied},
		{codes.NotFound, client.ErrNotFound},
		{codes.AlreadyExists, client.ErrAlreadyExists},
		{codes.FailedPrecondition, client.ErrFailedPrecondition},
		{codes.InvalidArgument, client.ErrInvalidArgument},
		{codes.ResourceExhausted, client.ErrResourceExhausted},
		{codes.DataLoss, client.ErrInternal},
	} {
		f := startFake(t, p)
		f.fail = tc.code
		other := startFake(t, p)
		other.fail = tc.code
		c := dialFake(t, p, f.addr, other.addr)
		_, err := c.Sign(context.Background(), &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("x")})
		if !errors.Is(err, tc.want) || status.Code(err) != tc.code {
			t.Errorf("%v: got %v (code %v), want errors.Is %v", tc.code, err, status.Code(err), tc.want)
		}
		var e *client.Error
		if !errors.As(err, &e) || e.RequestID == "" || e.Op != "Sign" {
			t.Errorf("%v: %#v lacks op or request id", tc.code, e)
		}
		if n := len(f.signIDs) + len(other.signIDs); n != 1 {
			t.Errorf("%v: retried a refusal: %d calls", tc.code, n)
		}
	}
}

func TestUnavailableEverywhereNamesEachAttempt(t *testing.T) {
	p := newPKI(t)
	a, b := startFake(t, p), startFake(t, p)
	a.unavailable, b.unavailable = 1<<30, 1<<30
	c := dialFake(t, p, a.addr, b.addr)
	_, err := c.Sign(context.Background(), &kqpb.SignRequest{Key: "ed", Handle: "h", Digest: []byte("x")})
	var e *client.Error
	if !errors.Is(err, client.ErrUnavailable) || !errors.As(err, &e) || !e.OutcomeUnknown() {
		t.Fatalf("got %v", err)
	}
	if len(e.Attempts) == 0 || !strings.Contains(err.Error(), "retry with request id "+e.RequestID) {
		t.Fatalf("error does not name the attempts and the id to retry with: %v", err)
	}
	if got := len(a.signIDs) + len(b.signIDs); got != 6 {
		t.Fatalf("%d attempts, want 3 per endpoint", got)
	}
}

func TestDialFailsWhenNoEndpointConnects(t *testing.T) {
	p := newPKI(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	_, err := client.Dial(ctx, client.Config{Endpoints: []string{deadAddr(t)}, CA: p.caPEM, Cert: p.clientCert, Key: p.clientKey})
	if !errors.Is(err, client.ErrUnavailable) {
		t.Fatalf("got %v", err)
	}
	if _, err := client.Dial(ctx, client.Config{CA: p.caPEM}); err == nil {
		t.Fatal("a config without endpoints or a certificate was accepted")
	}
}

func TestIssueHandleSendsOnlyTheProof(t *testing.T) {
	p := newPKI(t)
	f := startFake(t, p)
	c := dialFake(t, p, f.addr)
	h, err := c.IssueHandle(context.Background(), client.HandleRequest{Key: "ed", TTL: time.Minute, MaxUses: 3})
	if err != nil {
		t.Fatal(err)
	}
	req := f.issued[0]
	proof := handle.Proof(h.Token.Bearer())
	if req.GetHandleId() != h.ID || string(req.GetTokenProof()) != string(proof[:]) || req.GetPurpose() != client.DefaultPurpose {
		t.Fatalf("request %v does not carry the token's id and proof", req)
	}
	if strings.Contains(req.String(), h.Token.Bearer()) {
		t.Fatal("the token's secret was sent")
	}
	if _, err := c.IssueHandle(context.Background(), client.HandleRequest{Key: "ed", TTL: 1500 * time.Microsecond}); !errors.Is(err, client.ErrInvalidArgument) {
		t.Fatalf("a ttl of fractional milliseconds: %v", err)
	}
}

// fakeSigner issues a Signer of key, with a one-minute handle, on a fake
// node of its own.
func fakeSigner(t *testing.T, key string) (*fakeNode, *client.Signer) {
	t.Helper()
	p := newPKI(t)
	f := startFake(t, p)
	s, err := dialFake(t, p, f.addr).IssueSigner(context.Background(), client.HandleRequest{Key: key, TTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	return f, s
}

func TestSignerEd25519(t *testing.T) {
	_, s := fakeSigner(t, "ed")
	pub, ok := s.Public().(ed25519.PublicKey)
	if !ok {
		t.Fatalf("Public is %T", s.Public())
	}
	msg := []byte("the message itself")
	sig, err := s.Sign(nil, msg, crypto.Hash(0))
	if err != nil || !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("sign: %v", err)
	}
	if _, err := s.Sign(nil, msg, crypto.SHA512); err == nil {
		t.Fatal("Ed25519ph was accepted")
	}
	if _, err := s.Sign(nil, msg, &ed25519.Options{Context: "x"}); err == nil {
		t.Fatal("an Ed25519 context was accepted")
	}
	if _, err := s.SignRecoverable(make([]byte, 32)); err == nil {
		t.Fatal("a recoverable signature from an Ed25519 key")
	}
}

func TestSignerSecp256k1NormalisesAndRecovers(t *testing.T) {
	f, s := fakeSigner(t, "ec")
	pub, ok := s.Public().(client.Secp256k1PublicKey)
	if !ok || !pub.IsEqual(f.secp.PubKey()) || !pub.Equal(s.Public()) {
		t.Fatalf("Public is %T %v", s.Public(), s.Public())
	}
	for _, high := range []bool{false, true} {
		f.mu.Lock()
		f.highS = high
		f.mu.Unlock()
		for i := range 8 { // both recovery ids turn up within a few signatures
			d := sha256.Sum256([]byte{byte(i)})
			der, err := s.Sign(nil, d[:], crypto.SHA256)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := secpecdsa.ParseDERSignature(der)
			if err != nil || !sig.Verify(d[:], pub.PublicKey) {
				t.Fatalf("DER signature: %v", err)
			}
			if sv := sig.S(); sv.IsOverHalfOrder() {
				t.Fatal("high s returned")
			}
			rs, err := s.SignRecoverable(d[:])
			if err != nil || len(rs) != 65 || rs[64] > 1 {
				t.Fatalf("recoverable: %x %v", rs, err)
			}
			compact := append([]byte{27 + 4 + rs[64]}, rs[:64]...)
			got, _, err := secpecdsa.RecoverCompact(compact, d[:])
			if err != nil || !got.IsEqual(pub.PublicKey) {
				t.Fatalf("v=%d does not recover the key: %v", rs[64], err)
			}
		}
	}
	if _, err := s.Sign(nil, make([]byte, 20), crypto.Hash(0)); err == nil {
		t.Fatal("a 20-byte digest was accepted")
	}
}
