package client

import (
	"context"
	"encoding/hex"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/anishathalye/porcupine"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	rec  *Recorder
	dial Dialer

	mu        sync.Mutex
	id        int
	unreached bool // the last operation's outcome was Unreached
}

// New returns a client with a fresh client id.
func New(rec *Recorder, dial Dialer) *Client {
	return &Client{rec: rec, dial: dial, id: rec.newClientID()}
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
	alg := kqpb.Algorithm_ED25519
	if algorithm == "ecdsa-secp256k1" {
		alg = kqpb.Algorithm_ECDSA_SECP256K1
	}
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

// Sign asks node to sign digest with key under requestID.
func (c *Client) Sign(ctx context.Context, node, key string, digest []byte, requestID string) model.Output {
	in := model.Input{Kind: model.Sign, Key: key, Digest: hex.EncodeToString(digest), RequestID: requestID}
	return c.do(ctx, node, in, func(ctx context.Context, kc kqpb.KeyServiceClient) (model.Output, error) {
		resp, err := kc.Sign(ctx, &kqpb.SignRequest{Key: key, Digest: digest, RequestId: requestID})
		if err != nil {
			return model.Output{}, err
		}
		return model.Output{Status: model.OK, Signature: hex.EncodeToString(resp.Signature), Version: resp.Version}, nil
	})
}

// do runs one call and records it.
func (c *Client) do(ctx context.Context, node string, in model.Input,
	call func(context.Context, kqpb.KeyServiceClient) (model.Output, error)) model.Output {
	c.mu.Lock()
	defer c.mu.Unlock()
	kc, err := c.dial.Client(node)
	start := c.rec.Now()
	var out model.Output
	if err == nil {
		out, err = call(ctx, kc)
	}
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

// Classify maps a call's error to the model's outcome. Only codes the
// server returns before changing anything, or after a read, are definite;
// everything else (UNAVAILABLE, DEADLINE_EXCEEDED, Canceled, Aborted,
// Internal, ResourceExhausted, ...) is Unknown: the request may or may not
// have been applied. The one exception is gRPC's own "connection error"
// UNAVAILABLE, which it returns when no connection could be established, so
// the request was never sent; a follower that cannot reach the leader
// passes the same status on, having applied nothing itself.
func Classify(err error) model.Status {
	if err == nil {
		return model.OK
	}
	if st, _ := status.FromError(err); st.Code() == codes.Unavailable && strings.HasPrefix(st.Message(), "connection error:") {
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
	}
	return model.Unknown
}

func view(k *kqpb.Key) model.KeyView {
	v := model.KeyView{Name: k.Name, PublicKey: hex.EncodeToString(k.PublicKey), PEM: k.PublicKeyPem, Algorithm: algorithm(k.Algorithm)}
	switch k.State {
	case kqpb.KeyState_KEY_STATE_GENERATING:
		v.State = model.Generating
	case kqpb.KeyState_KEY_STATE_ACTIVE:
		v.State = model.Active
	case kqpb.KeyState_KEY_STATE_FAILED:
		v.State = model.Failed
	}
	return v
}

func algorithm(a kqpb.Algorithm) string {
	if a == kqpb.Algorithm_ECDSA_SECP256K1 {
		return "ecdsa-secp256k1"
	}
	return "ed25519"
}
