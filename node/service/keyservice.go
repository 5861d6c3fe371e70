package service

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"regexp"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/tss"
)

// keyNamePattern keeps key names safe in file paths, logs and tables.
var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// keyService implements KeyService. Every call is answered by the leader:
// a follower forwards it, so reads are linearizable and writes are ordered
// by one proposer.
type keyService struct {
	kqpb.UnimplementedKeyServiceServer
	n *core
}

func (s *keyService) CreateKey(ctx context.Context, req *kqpb.CreateKeyRequest) (*kqpb.Key, error) {
	if err := ensureRequestID(&req.RequestId); err != nil {
		return nil, err
	}
	if err := checkPurposes(req.Purposes); err != nil {
		return nil, err
	}
	n := s.n
	if resp, forwarded, err := forward(ctx, n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
		return c.CreateKey(ctx, req)
	}); forwarded {
		return resp, err
	}
	alg, err := algorithmFromProto(req.Algorithm)
	if err != nil {
		return nil, err
	}
	if err := keyName(&req.Name); err != nil {
		return nil, err
	}
	members := n.rt.Holders()
	t := int(req.Threshold)
	if t == 0 {
		t = n.cluster.Threshold
	}
	if t < 1 || t >= len(members) {
		return nil, status.Errorf(codes.InvalidArgument, "threshold %d: need 1 <= threshold < %d members (threshold+1 members sign)", req.Threshold, len(members))
	}
	reqID, err := requestID(req.RequestId)
	if err != nil {
		return nil, err
	}
	if err := n.requireEveryMember("key generation", members); err != nil {
		return nil, err
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	wake := n.rt.WatchKey(req.Name)
	res, err := n.rt.Apply(ctx, &fsm.CreateKey{RequestID: reqID, Name: req.Name, Algorithm: alg.String(),
		Threshold: t, Members: members, Purposes: req.Purposes, DeletionAllowed: req.DeletionAllowed,
		Actor: actor, ActorSerial: n.actorSerial(ctx)})
	if err != nil {
		return nil, err
	}
	return n.waitGenerated(ctx, wake, req.Name, 1, res.Key.CreateRequestID)
}

// waitGenerated waits until version of the key left generating and returns
// the key. wake must have been taken before the entry was proposed.
func (n *core) waitGenerated(ctx context.Context, wake <-chan struct{}, name string, version uint32, createID string) (*kqpb.Key, error) {
	for {
		k, _ := n.fsm.Key(name)
		if k == nil || k.CreateRequestID != createID || k.Version(version) == nil {
			return nil, status.Error(codes.Aborted, "key changed while waiting")
		}
		switch v := k.Version(version); v.State {
		case fsm.KeyGenerating:
		case fsm.KeyFailed:
			return nil, status.Errorf(codes.Aborted, "key generation of %q v%d failed: %s", name, version, v.Failure)
		default:
			return n.keyToProto(k)
		}
		select {
		case <-wake:
			wake = n.rt.WatchKey(name)
		case <-ctx.Done():
			v := k.Version(version)
			return nil, status.Errorf(codes.DeadlineExceeded, "key %q v%d still generating (%d of %d shares stored); see `kq key get`", name, version, len(v.Confirmed), len(k.Members))
		}
	}
}

func (s *keyService) GetKey(ctx context.Context, req *kqpb.GetKeyRequest) (*kqpb.Key, error) {
	if s.n.faults.StaleRead {
		k, ok := s.n.fsm.Key(req.Name)
		if !ok {
			return nil, status.Errorf(codes.NotFound, "unknown key %q", req.Name)
		}
		return s.n.keyToProto(k)
	}
	if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.Key, error) {
		return c.GetKey(ctx, req)
	}); forwarded {
		return resp, err
	}
	k, err := s.n.readKey(ctx, req.Name)
	if err != nil {
		return nil, err
	}
	return s.n.keyToProto(k)
}

func (s *keyService) ListKeys(ctx context.Context, req *kqpb.ListKeysRequest) (*kqpb.ListKeysResponse, error) {
	if !s.n.faults.StaleRead {
		if resp, forwarded, err := forward(ctx, s.n, func(ctx context.Context, c kqpb.KeyServiceClient) (*kqpb.ListKeysResponse, error) {
			return c.ListKeys(ctx, req)
		}); forwarded {
			return resp, err
		}
		if err := s.n.rt.LinearizableRead(ctx); err != nil {
			return nil, ToStatus(err)
		}
	}
	actor, err := s.n.actor(ctx)
	if err != nil {
		return nil, err
	}
	out := &kqpb.ListKeysResponse{}
	for _, k := range s.n.fsm.Keys() {
		if fsm.IsAuditKey(k.Name) {
			continue // the cluster's own key; `kq audit head` shows it
		}
		if !s.n.mayRead(actor, k.Name) {
			continue // another tenant's: not even its name
		}
		pk, err := s.n.keyToProto(k)
		if err != nil {
			return nil, err
		}
		out.Keys = append(out.Keys, pk)
	}
	return out, nil
}

// readKey returns the named key as of a linearizable read on the leader.
func (n *core) readKey(ctx context.Context, name string) (*fsm.Key, error) {
	if err := keyName(&name); err != nil {
		return nil, err
	}
	actor, err := n.actor(ctx)
	if err != nil {
		return nil, err
	}
	if err := n.rt.LinearizableRead(ctx); err != nil {
		return nil, ToStatus(err)
	}
	k, ok := n.fsm.Key(name)
	if !ok || !n.mayRead(actor, name) {
		return nil, status.Errorf(codes.NotFound, "unknown key %q", name)
	}
	return k, nil
}

func checkName(name string) error {
	if err := CheckIdent("key name", name, 64, ""); err != nil {
		return err
	}
	if !keyNamePattern.MatchString(name) {
		return status.Errorf(codes.InvalidArgument, "key name %q: use 1-64 letters, digits, '.', '_' or '-'", truncate(name, 80))
	}
	return nil
}

// ensureRequestID gives a request without an id one here, before it is
// forwarded, so that every retry of the forward carries the same id.
func ensureRequestID(id *string) error {
	v, err := requestID(*id)
	*id = v
	return err
}

// requestID validates a client's request id, or makes one: a request
// without an id is still recorded, it just cannot be retried safely.
func requestID(id string) (string, error) {
	if id != "" {
		// '#' separates a dual-signed request's companion id.
		if err := CheckIdent("request_id", id, maxRequestIDLen, "#"); err != nil {
			return "", err
		}
		return id, nil
	}
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", status.Error(codes.Internal, err.Error())
	}
	return "auto-" + hex.EncodeToString(b[:]), nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func algorithmFromProto(a kqpb.Algorithm) (tss.Algorithm, error) {
	switch a {
	case kqpb.Algorithm_ECDSA_SECP256K1:
		return tss.ECDSASecp256k1, nil
	case kqpb.Algorithm_ED25519:
		return tss.Ed25519, nil
	}
	return 0, status.Errorf(codes.InvalidArgument, "unknown algorithm %v: use ecdsa-secp256k1 or ed25519", a)
}

func (n *core) keyToProto(k *fsm.Key) (*kqpb.Key, error) {
	alg, err := tss.ParseAlgorithm(k.Algorithm)
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	cur := k.Current()
	out := &kqpb.Key{Name: k.Name, Version: cur.Number, PrimaryVersion: k.Primary, Threshold: uint32(k.Threshold),
		Members: k.Members, Purposes: k.Purposes, State: stateToProto(cur.State),
		Failure: cur.Failure, CreatedIndex: k.CreatedIndex, Confirmed: cur.Confirmed,
		MinSignVersion: k.MinSignVersion, MinVerifyVersion: k.MinVerifyVersion, DeletionAllowed: k.DeletionAllowed}
	if d := k.DualSign; d != nil && n.fsm.Time() < d.Until {
		out.DualSignVersion, out.DualSignUntilUnixNano = d.Version, d.Until
	}
	for _, p := range n.fsm.Presigs(k.Name) {
		if p.State == fsm.PresigReady {
			out.PresigsReady++
		} else {
			out.PresigsPending++
		}
	}
	out.Algorithm, _ = kqpb.AlgorithmNamed(alg.String())
	for _, v := range k.Versions {
		pv := &kqpb.KeyVersion{Version: v.Number, State: stateToProto(v.State), Epoch: v.Epoch,
			Confirmed: v.Confirmed, Failure: v.Failure}
		// A generating version's public key is one member's claim until
		// every member confirmed it; a failed one's may be wrong.
		if len(v.PublicKey) > 0 && v.State != fsm.KeyGenerating && v.State != fsm.KeyFailed {
			pv.PublicKey = v.PublicKey
			if pv.PublicKeyPem, err = tss.PublicKeyPEM(alg, v.PublicKey); err != nil {
				return nil, status.Error(codes.Internal, fmt.Sprintf("encode public key: %v", err))
			}
		}
		if r := v.Refresh; r != nil {
			pv.RefreshEpoch, pv.RefreshConfirmed = r.Epoch, r.Confirmed
		}
		if d := v.Destroy; d != nil {
			pv.DestroyAtUnixNano, pv.Destroyed, pv.SharesDestroyed = d.At, d.Executed, d.Shredded
		}
		out.Versions = append(out.Versions, pv)
		if v == cur {
			out.PublicKey, out.PublicKeyPem = pv.PublicKey, pv.PublicKeyPem
		}
	}
	return out, nil
}

// stateToProto names the replicated state on the wire: consensus stores
// key states by the names kqpb gives them.
func stateToProto(s fsm.KeyState) kqpb.KeyState {
	st, _ := kqpb.KeyStateNamed(string(s))
	return st
}
