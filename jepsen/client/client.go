package client

import (
	"context"
	"encoding/hex"
	"fmt"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/handle"
	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Dialer returns a KeyService client for a node; jepsen/cluster.Cluster is
// one.
type Dialer interface {
	Client(node string) (kqpb.KeyServiceClient, error)
}

// Meta is recorded with each operation: where it went and what went wrong.
type Meta struct {
	Node    string
	Code    string // gRPC code; "OK" on success
	Latency time.Duration
	_       struct{}
}

// String renders the metadata for visualisations.
func (m Meta) String() string {
	return m.Node + " " + m.Code + " " + m.Latency.Round(time.Millisecond).String()
}

// Client is one logical client. Its methods serialise: one request in
// flight, as the checker assumes.
type Client struct {
	rec     *Recorder
	dial    Dialer
	handles *Handles
	// principal is who the client is, recorded with each operation;
	// empty for the bootstrap admin.
	principal string

	mu        sync.Mutex
	id        int
	unreached bool // the last operation's outcome was Unreached
}

// New returns a client with a fresh client id that signs with the handles
// in handles, issuing those it lacks.
func New(rec *Recorder, dial Dialer, handles *Handles) *Client {
	return &Client{rec: rec, dial: dial, handles: handles, id: rec.newClientID()}
}

// NewAs returns a client of principal, whose dial connects with that
// principal's certificate; every operation it records names principal.
func NewAs(rec *Recorder, dial Dialer, handles *Handles, principal string) *Client {
	c := New(rec, dial, handles)
	c.principal = principal
	return c
}

// Exec runs call, which is not a KeyService call (a kq command), and
// records it as in, sent to node; an error from call is an unknown
// outcome unless it is a definite gRPC status.
func (c *Client) Exec(ctx context.Context, node string, in model.Input, call func(context.Context) error) model.Output {
	return c.record(node, in, func() (model.Output, error) {
		if err := call(ctx); err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK}, nil
	})
}

// HandleTTL is the life of the handles clients issue: longer than any run,
// within the cluster's default handles.max_ttl (24 h), and far beyond what
// the clock nemesis skews.
const HandleTTL = 12 * time.Hour

// Handles is the signing handles the clients of one run share, one per
// key, as a service holding a capability per key would: every request
// with a key, first attempt and retries, presents the same handle. It is
// safe for concurrent use.
type Handles struct {
	mu      sync.Mutex
	tokens  map[string]handle.Token // key -> its handle
	pending map[string]pendingIssue // key -> the issue request not yet answered OK
	issued  int                     // issue requests so far, for request ids
}

// pendingIssue is an issue request and the token it issues: the clients
// make their tokens, so every attempt of the request sends the same id and
// proof and must get the same handle.
type pendingIssue struct {
	requestID string
	token     handle.Token
}

// NewHandles returns an empty cache.
func NewHandles() *Handles {
	return &Handles{tokens: map[string]handle.Token{}, pending: map[string]pendingIssue{}}
}

func (h *Handles) get(key string) (handle.Token, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	t, ok := h.tokens[key]
	return t, ok
}

// put caches token as key's handle unless another client's issue got
// there first: a retried request must present the handle it was made
// with, so a key's handle never changes during a run.
func (h *Handles) put(key string, token handle.Token) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.tokens[key]; !ok {
		h.tokens[key] = token
	}
	delete(h.pending, key)
}

// issue returns key's issue request still waiting for an OK answer, or a
// new one with a fresh token.
func (h *Handles) issue(key string) (pendingIssue, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.pending[key]; ok {
		return p, nil
	}
	tok, err := handle.New()
	if err != nil {
		return pendingIssue{}, err
	}
	h.issued++
	p := pendingIssue{requestID: fmt.Sprintf("h-%s-%d", key, h.issued), token: tok}
	h.pending[key] = p
	return p, nil
}

// ID is the client id the next operation is recorded under.
func (c *Client) ID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.id
}

// LastUnreached reports whether the last operation never reached a node
// that could apply it.
func (c *Client) LastUnreached() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unreached
}

// Create asks node to create an Ed25519 or ECDSA key ("ed25519" or
// "ecdsa-secp256k1").
func (c *Client) Create(ctx context.Context, node, name, algorithm, requestID string) model.Output {
	in := model.Input{Kind: model.Create, Key: name, Algorithm: algorithm, RequestID: requestID}
	alg, _ := kqpb.AlgorithmNamed(algorithm) // an unknown name is sent as unspecified, and refused
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		k, err := kc.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: name, Algorithm: alg, RequestId: requestID})
		if err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK, Key: view(k)}, nil
	})
}

// Get reads one key through node.
func (c *Client) Get(ctx context.Context, node, name string) model.Output {
	in := model.Input{Kind: model.Get, Key: name}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		k, err := kc.GetKey(ctx, &kqpb.GetKeyRequest{Name: name})
		if err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK, Key: view(k)}, nil
	})
}

// List reads every key through node.
func (c *Client) List(ctx context.Context, node string) model.Output {
	in := model.Input{Kind: model.List}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		resp, err := kc.ListKeys(ctx, &kqpb.ListKeysRequest{})
		if err != nil {
			return model.Output{}, err
		}
		out := model.Output{Status: model.OK, Keys: []model.KeyView{}}
		for _, k := range resp.Keys {
			out.Keys = append(out.Keys, view(k))
		}
		sort.Slice(out.Keys, func(i, j int) bool { return out.Keys[i].Name < out.Keys[j].Name })
		return out, nil
	})
}

// Sign asks node to sign digest with key's primary version under
// requestID.
func (c *Client) Sign(ctx context.Context, node, key string, digest []byte, requestID string) model.Output {
	return c.SignVersion(ctx, node, key, 0, digest, requestID)
}

// SignVersion asks node to sign digest with version of key (0: the
// primary) under requestID, with the key's handle. A key without a handle
// yet gets one first, recorded as its own operation; when that fails, its
// outcome is returned and no Sign is sent.
func (c *Client) SignVersion(ctx context.Context, node, key string, version uint32, digest []byte, requestID string) model.Output {
	tok, ok := c.handles.get(key)
	if !ok {
		out := c.issueHandle(ctx, node, key)
		if out.Status != model.OK {
			return out
		}
		tok, _ = c.handles.get(key)
	}
	return c.signWith(ctx, node, key, version, digest, requestID, tok, HandleTTL)
}

// SignWith asks node to sign digest with key's primary under requestID,
// presenting tok, a handle issued with life ttl (see Issue): the handle and
// its life are recorded with the operation, for the expiry checker.
func (c *Client) SignWith(ctx context.Context, node, key string, digest []byte, requestID string, tok handle.Token, ttl time.Duration) model.Output {
	return c.signWith(ctx, node, key, 0, digest, requestID, tok, ttl)
}

func (c *Client) signWith(ctx context.Context, node, key string, version uint32, digest []byte, requestID string,
	tok handle.Token, ttl time.Duration) model.Output {
	in := model.Input{Kind: model.Sign, Key: key, Digest: hex.EncodeToString(digest), RequestID: requestID, Version: version,
		Handle: tok.ID(), HandleTTL: ttl}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		resp, err := kc.Sign(ctx, &kqpb.SignRequest{Key: key, Digest: digest, RequestId: requestID, Handle: tok.Bearer(), Version: version})
		if err != nil {
			return model.Output{}, err
		}
		out := model.Output{Status: model.OK, Signature: hex.EncodeToString(resp.Signature), Version: resp.Version}
		for _, c := range resp.FrostCommitments {
			out.Frost = append(out.Frost, hex.EncodeToString(c))
		}
		return out, nil
	})
}

// issueHandle asks node for a signing handle of key and caches it. The
// token is made here: a request that failed or timed out is sent again
// under its id with the same token, by whichever client comes next, and
// must get the same handle back (the model refuses ALREADY_EXISTS).
func (c *Client) issueHandle(ctx context.Context, node, key string) model.Output {
	p, err := c.handles.issue(key)
	if err != nil {
		return model.Output{Status: model.Unreached, Error: err.Error()}
	}
	out := c.Issue(ctx, node, key, p.requestID, p.token, HandleTTL)
	if out.Status == model.OK {
		c.handles.put(key, p.token)
	}
	return out
}

// Issue asks node to issue tok, which the caller made, as a signing handle
// of key for ttl, under requestID; the operation records the handle's id
// and life. Sending the same request id and token again after a failure
// must get the same handle back, issued at the first attempt's time.
func (c *Client) Issue(ctx context.Context, node, key, requestID string, tok handle.Token, ttl time.Duration) model.Output {
	proof := tok.Proof()
	in := model.Input{Kind: model.IssueHandle, Key: key, RequestID: requestID, Handle: tok.ID(), HandleTTL: ttl}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		_, err := kc.IssueHandle(ctx, &kqpb.IssueHandleRequest{Key: key, Purpose: "sign",
			TtlMs: uint64(ttl / time.Millisecond), RequestId: requestID, HandleId: tok.ID(), TokenProof: proof[:]})
		if err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK}, nil
	})
}

// Change asks node for a lifecycle change of key: model.Rotate, Promote
// (with no dual-sign window, so signatures come one at a time), Rollback,
// Retire or Revoke, of version (0: the change's default).
func (c *Client) Change(ctx context.Context, node string, kind model.Kind, key string, version uint32, requestID string) model.Output {
	in := model.Input{Kind: kind, Key: key, Version: version, RequestID: requestID}
	req := &kqpb.KeyVersionRequest{Key: key, Version: version, RequestId: requestID}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		var k *kqpb.Key
		var err error
		switch kind {
		case model.Rotate:
			k, err = kc.RotateKey(ctx, req)
		case model.Promote:
			noWindow := uint64(0)
			k, err = kc.PromoteKey(ctx, &kqpb.PromoteKeyRequest{Key: key, Version: version, RequestId: requestID, DualSignMs: &noWindow})
		case model.Rollback:
			k, err = kc.RollbackKey(ctx, req)
		case model.Retire:
			k, err = kc.RetireKeyVersion(ctx, req)
		case model.Revoke:
			k, err = kc.RevokeKeyVersion(ctx, req)
		default:
			return model.Output{}, status.Errorf(codes.InvalidArgument, "client: %q is not a lifecycle change", kind)
		}
		if err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK, Key: view(k)}, nil
	})
}

// do runs one call and records it.
func (c *Client) do(ctx context.Context, node string, in model.Input,
	call func(context.Context, kqpb.KeyServiceClient) (model.Output, error)) model.Output {
	return c.record(node, in, func() (model.Output, error) {
		kc, err := c.dial.Client(node)
		if err != nil {
			return model.Output{}, err
		}
		return call(ctx, kc)
	})
}

// record runs call and records it.
func (c *Client) record(node string, in model.Input, call func() (model.Output, error)) model.Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	in.Principal = c.principal
	start := c.rec.Now()
	out, err := call()
	end := c.rec.Now()
	meta := Meta{Node: node, Code: codes.OK.String(), Latency: time.Duration(end - start)}
	if err != nil {
		st, _ := status.FromError(err)
		meta.Code = st.Code().String()
		out = model.Output{Status: Classify(err), Error: st.Message()}
	}
	c.unreached = out.Status == model.Unreached
	op := porcupine.Operation{ClientId: c.id, Input: in, Call: start, Output: out, Return: end, Metadata: meta}
	if out.Status == model.Unknown {
		op.Return = math.MaxInt64
		c.id = c.rec.newClientID()
	}
	c.rec.add(op)
	return out
}

// needsEveryMember marks the leader's refusal, before the log, to start
// work that needs every member.
const needsEveryMember = "needs every member; unreachable"

// Classify maps a call's error to the model's outcome. Only codes the
// server returns before changing anything, or after a read, are definite;
// everything else (UNAVAILABLE, DEADLINE_EXCEEDED, Canceled, Aborted,
// Internal, ResourceExhausted, ...) is Unknown: the request may or may not
// have been applied. The one exception is gRPC's own "connection error"
// UNAVAILABLE, which it returns when no connection could be established, so
// the request was never sent; a follower that cannot reach the leader
// passes the same status on, having applied nothing itself. The other is
// the leader's refusal to start work that needs every member while one is
// unreachable (key creation, rotation, refresh), which it returns before
// appending anything (node.errNeedsEveryMember).
func Classify(err error) model.Status {
	if err == nil {
		return model.OK
	}
	if st, _ := status.FromError(err); st.Code() == codes.Unavailable &&
		(strings.HasPrefix(st.Message(), "connection error:") || strings.Contains(st.Message(), needsEveryMember)) {
		return model.Unreached
	}
	switch status.Code(err) {
	case codes.NotFound:
		return model.NotFound
	case codes.AlreadyExists:
		return model.AlreadyExists
	case codes.FailedPrecondition:
		return model.FailedPrecondition
	case codes.InvalidArgument:
		return model.Invalid
	case codes.PermissionDenied:
		return model.Denied
	}
	return model.Unknown
}

func view(k *kqpb.Key) model.KeyView {
	v := model.KeyView{Name: k.Name, State: model.KeyState(k.State.Name()), PublicKey: hex.EncodeToString(k.PublicKey), Primary: k.PrimaryVersion,
		PEM: k.PublicKeyPem, Algorithm: k.Algorithm.Name()}
	for _, kv := range k.Versions {
		v.Versions = append(v.Versions, model.VersionView{Number: kv.Version, State: model.KeyState(kv.State.Name()),
			PublicKey: hex.EncodeToString(kv.PublicKey), PEM: kv.PublicKeyPem})
	}
	return v
}
