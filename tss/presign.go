package tss

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
)

// ErrPresignUsed is returned by Presignature.Sign on a second use or after
// Discard: a presignature's nonce may sign one message, ever.
var ErrPresignUsed = errors.New("tss: presignature already used or discarded")

// PresignRequest starts an ECDSA presignature: the message-independent
// rounds 1-4 of signing (99.5% of the cost), run ahead of time.
type PresignRequest struct {
	Session   SessionID
	Share     *Share
	Committee []string // exactly Threshold()+1 members, this node included
	// TTL bounds how long the parked session waits for its message.
	TTL time.Duration
}

// Presignature is this member's parked ECDSA signing session. It lives in
// memory only: a restart loses it, and the other members' halves become
// useless, which is what the replicated state must assume.
//
// tss-lib keeps the message as the *big.Int given to NewLocalParty and
// reads it first in round 5. The session runs rounds 1-4 over a random
// placeholder below the group order and holds the peers' round-4 messages,
// which stops the party before round 5. Sign sets the real digest on the
// session's worker goroutine, then releases the held messages. A different
// random placeholder on each member makes a forgotten bind fail the
// protocol's consistency checks instead of signing the placeholder.
//
// Not for Ed25519: a Schnorr nonce committed before the message, with many
// such sessions open at once, admits the ROS attack (Benhamouda et al.,
// 2020). ECDSA presignatures are the GG20 offline/online split; they must
// never be combined with additive (HD-style) key derivation.
type Presignature struct {
	s      *session
	pub    []byte
	cancel context.CancelFunc
	used   atomic.Bool
	done   chan struct{} // closed when the session ends
	sig    *common.SignatureData
	err    error
}

// Presign runs rounds 1-4 and returns once this member is parked: it holds
// the round-4 message of every other committee member. The session then
// waits, at most TTL, for Sign or Discard.
func (e *Engine) Presign(ctx context.Context, req PresignRequest) (*Presignature, error) {
	if err := e.checkCommittee(req.Share, req.Committee); err != nil {
		return nil, err
	}
	if req.Share.alg != ECDSASecp256k1 {
		return nil, invalidf("presignatures are for ECDSA only")
	}
	if req.TTL <= 0 {
		return nil, invalidf("presignature TTL must be positive")
	}
	ph, err := rand.Int(rand.Reader, curveOrder(ECDSASecp256k1))
	if err != nil {
		return nil, fmt.Errorf("tss: placeholder: %w", err)
	}
	s, err := e.newSignSession(SignRequest{Session: req.Session, Share: req.Share, Committee: req.Committee, Message: ph.FillBytes(make([]byte, ecdsaDigestLen))})
	if err != nil {
		return nil, err
	}
	peers := len(req.Committee) - 1
	parked := make(chan struct{})
	var once sync.Once
	s.timeout = req.TTL
	s.gate = e.heavy // until Sign releases the held round
	s.hold = func(t, _ string) bool { return t == ecdsaSignPrefix+"SignRound4Message" }
	s.onHold = func(n int) {
		if n == peers {
			once.Do(func() { close(parked) })
		}
	}
	runCtx, cancel := context.WithCancel(context.Background())
	p := &Presignature{s: s, pub: req.Share.PublicKey(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(p.done)
		res, err := e.run(runCtx, s)
		if err == nil {
			p.sig, _ = res.(*common.SignatureData)
		}
		p.err = err
	}()
	select {
	case <-parked:
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("tss: presignature ended before parking: %w", p.err)
	case <-ctx.Done():
		p.Discard()
		return nil, fmt.Errorf("tss: presign: %w", ctx.Err())
	}
}

// Sign binds digest to the presignature and finishes the signature with
// rounds 5-9. It may be called once. The digest must be 32 bytes below the
// group order: tss-lib only checked the placeholder.
func (p *Presignature) Sign(ctx context.Context, digest []byte) ([]byte, error) {
	if err := CheckMessage(ECDSASecp256k1, digest); err != nil {
		return nil, err
	}
	if !p.used.CompareAndSwap(false, true) {
		return nil, ErrPresignUsed
	}
	if err := p.s.releaseHeld(func() { p.s.message.SetBytes(digest) }); err != nil {
		return nil, err
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		p.cancel()
		<-p.done
	}
	if p.err != nil {
		return nil, p.err
	}
	sig, err := encodeSignature(ECDSASecp256k1, p.sig)
	if err != nil {
		return nil, err
	}
	if !Verify(ECDSASecp256k1, p.pub, digest, sig) {
		return nil, &AbortError{Session: p.s.id, Err: fmt.Errorf("tss: presigned signature does not verify")}
	}
	return sig, nil
}

// Discard ends the parked session without signing; the presignature can
// never be used afterwards.
func (p *Presignature) Discard() {
	p.used.Store(true)
	p.cancel()
}

// Done is closed when the session has ended (signed, discarded, expired or failed).
func (p *Presignature) Done() <-chan struct{} { return p.done }

func curveOrder(alg Algorithm) *big.Int {
	ec, _ := curveFor(alg)
	return ec.Params().N
}
