package client

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// CreateKey starts a distributed key generation and waits until the key is
// active (or failed: then the key's State is KEY_STATE_FAILED and Failure
// says why). An empty RequestId is filled with a fresh one, which every
// retry of this call reuses; set it yourself to retry across calls or
// processes: the same id and input return the same key, the same id with
// other input fails with ErrAlreadyExists. req is not modified.
func (c *Client) CreateKey(ctx context.Context, req *kqpb.CreateKeyRequest) (*kqpb.Key, error) {
	if req == nil {
		req = &kqpb.CreateKeyRequest{} // the node names what is missing
	}
	req = proto.CloneOf(req)
	if req.RequestId == "" {
		req.RequestId = newRequestID()
	}
	return invoke(ctx, c, "CreateKey", req.RequestId, func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.Key, error) {
		return kqpb.NewKeyServiceClient(conn).CreateKey(ctx, req)
	})
}

// GetKey returns a key, every version included. It fails with ErrNotFound
// for an unknown name.
func (c *Client) GetKey(ctx context.Context, name string) (*kqpb.Key, error) {
	return invoke(ctx, c, "GetKey", "", func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.Key, error) {
		return kqpb.NewKeyServiceClient(conn).GetKey(ctx, &kqpb.GetKeyRequest{Name: name})
	})
}

// ListKeys returns every client key of the cluster.
func (c *Client) ListKeys(ctx context.Context) ([]*kqpb.Key, error) {
	r, err := invoke(ctx, c, "ListKeys", "", func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.ListKeysResponse, error) {
		return kqpb.NewKeyServiceClient(conn).ListKeys(ctx, &kqpb.ListKeysRequest{})
	})
	if err != nil {
		return nil, err
	}
	return r.GetKeys(), nil
}

// Sign signs with the key that req.Handle grants. For ECDSA secp256k1,
// req.Digest is the 32-byte hash and the signature is ASN.1 DER with a low
// s; for Ed25519 it is the message itself (1 to 1024 bytes) and the
// signature is 64 bytes (RFC 8032). An empty RequestId is filled as for
// CreateKey, so a retry after a lost answer returns the stored signature
// instead of signing twice. Inside a dual-sign window the response lists a
// second signature, by the previous primary version. req is not modified.
//
// Most callers want a Signer, which hides the handle, the encodings and the
// request ids behind crypto.Signer.
func (c *Client) Sign(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	if req == nil {
		req = &kqpb.SignRequest{}
	}
	req = proto.CloneOf(req)
	if req.RequestId == "" {
		req.RequestId = newRequestID()
	}
	return invoke(ctx, c, "Sign", req.RequestId, func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.SignResponse, error) {
		return kqpb.NewKeyServiceClient(conn).Sign(ctx, req)
	})
}

// Verify asks the cluster whether a signature is valid for a key version
// (req.Version 0: the primary). An invalid signature is not an error: the
// response's Valid is false. Verifying locally against the key's public key
// gives the same answer without a round trip; this call also applies the
// key's verify policy (min_verify_version, revoked versions).
func (c *Client) Verify(ctx context.Context, req *kqpb.VerifyRequest) (*kqpb.VerifyResponse, error) {
	return invoke(ctx, c, "Verify", "", func(ctx context.Context, conn *grpc.ClientConn) (*kqpb.VerifyResponse, error) {
		return kqpb.NewKeyServiceClient(conn).Verify(ctx, req)
	})
}
