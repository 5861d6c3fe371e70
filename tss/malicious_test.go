package tss_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bnb-chain/tss-lib/v2/common"
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// This file builds malicious members for tests: network rules that decode a
// member's tss-lib messages, change them and send them on, as a member
// running modified code would.

// wireName returns the tss-lib message type of a payload, or "".
func wireName(payload []byte) string {
	var a anypb.Any
	if proto.Unmarshal(payload, &a) != nil {
		return ""
	}
	return string(a.MessageName())
}

// rewrite decodes payload into m, runs edit and returns the re-encoded
// payload. Errors are reported on t (rules run on network goroutines).
func rewrite(t *testing.T, payload []byte, m proto.Message, edit func()) []byte {
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	if err := a.UnmarshalTo(m); err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	edit()
	if err := a.MarshalFrom(m); err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	b, err := proto.Marshal(&a)
	if err != nil {
		t.Errorf("rewrite: %v", err)
		return payload
	}
	return b
}

// tamper returns a rule under which member bad rewrites every copy of its
// messages of type name (a tss-lib message type) with edit.
func tamper[M proto.Message](t *testing.T, bad, name string, m M, edit func(M)) tsstest.Rule {
	var mu sync.Mutex
	return func(msg *tss.Message, _ string) bool {
		if msg.From != bad || wireName(msg.Payload) != name {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		msg.Payload = rewrite(t, msg.Payload, m, func() { edit(m) })
		return true
	}
}

// forgeVSS returns a rule under which member bad opens its keygen VSS
// commitment to forge(D) instead of its real decommitment D (randomness
// followed by the flattened points). To stay consistent it holds back its
// round-1 commitment until the round-2 decommitment passes, then sends the
// commitment to forge(D) ahead of it: the hash check passes and only the
// vector's shape is wrong.
func forgeVSS(t *testing.T, net *tsstest.Network, alg tss.Algorithm, bad string, forge func(d [][]byte) [][]byte) tsstest.Rule {
	pkg := "binance.tsslib.eddsa.keygen."
	if alg == tss.ECDSASecp256k1 {
		pkg = "binance.tsslib.ecdsa.keygen."
	}
	var mu sync.Mutex
	held := map[string]tss.Message{}
	return func(m *tss.Message, to string) bool {
		if m.From != bad {
			return true
		}
		mu.Lock()
		defer mu.Unlock()
		switch wireName(m.Payload) {
		case pkg + "KGRound1Message":
			held[to] = *m
			return false
		case pkg + "KGRound2Message2":
			var d [][]byte
			var r2 proto.Message = &eddsakeygen.KGRound2Message2{}
			if alg == tss.ECDSASecp256k1 {
				r2 = &ecdsakeygen.KGRound2Message2{}
			}
			m.Payload = rewrite(t, m.Payload, r2, func() {
				switch r := r2.(type) {
				case *ecdsakeygen.KGRound2Message2:
					r.DeCommitment = forge(r.DeCommitment)
					d = r.DeCommitment
				case *eddsakeygen.KGRound2Message2:
					r.DeCommitment = forge(r.DeCommitment)
					d = r.DeCommitment
				}
			})
			c := common.SHA512_256i(common.MultiBytesToBigInts(d)...).Bytes()
			r1, ok := held[to]
			if !ok {
				t.Errorf("no round-1 message held for %s", to)
				return true
			}
			var r1m proto.Message = &eddsakeygen.KGRound1Message{}
			if alg == tss.ECDSASecp256k1 {
				r1m = &ecdsakeygen.KGRound1Message{}
			}
			r1.Payload = rewrite(t, r1.Payload, r1m, func() {
				switch r := r1m.(type) {
				case *ecdsakeygen.KGRound1Message:
					r.Commitment = c
				case *eddsakeygen.KGRound1Message:
					r.Commitment = c
				}
			})
			if err := net.Inject(to, r1); err != nil {
				t.Errorf("inject: %v", err)
			}
		}
		return true
	}
}

// onePoint keeps the randomness and the first point only.
func onePoint(d [][]byte) [][]byte { return slices.Clone(d[:3]) }

// thousandPoints pads the vector to 1,000 points by repeating the first.
func thousandPoints(d [][]byte) [][]byte {
	out := slices.Clone(d)
	for len(out) < 1+2*1000 {
		out = append(out, d[1], d[2])
	}
	return out
}

// attempt runs one session on every node of nodes (run is its side) and
// returns each node's error. It waits for every node but bad, then cancels
// the context so bad's side, which waits for messages that never come,
// ends too.
func attempt(nodes []string, bad string, run func(ctx context.Context, id string) error) map[string]error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	type res struct {
		id  string
		err error
	}
	ch := make(chan res, len(nodes))
	for _, id := range nodes {
		go func() { ch <- res{id, run(ctx, id)} }()
	}
	errs := map[string]error{}
	honest := 0
	for _, id := range nodes {
		if id != bad {
			honest++
		}
	}
	for honest > 0 {
		r := <-ch
		errs[r.id] = r.err
		if r.id != bad {
			honest--
		}
	}
	cancel()
	for len(errs) < len(nodes) {
		r := <-ch
		errs[r.id] = r.err
	}
	return errs
}

// keygenOn returns a run function for attempt: keygen of alg among parties,
// with pre-params fixture pp[id] for ECDSA.
func keygenOn(t *testing.T, engines map[string]*tss.Engine, alg tss.Algorithm, sid tss.SessionID, parties []string, pp map[string]int,
	shares map[string]*tss.Share) func(ctx context.Context, id string) error {
	var mu sync.Mutex
	return func(ctx context.Context, id string) error {
		r := tss.KeygenRequest{Session: sid, Algorithm: alg, Threshold: 1, Parties: parties}
		if alg == tss.ECDSASecp256k1 {
			r.PreParams = loadPreParams(t, pp[id])
		}
		sh, err := engines[id].Keygen(ctx, r)
		if shares != nil {
			mu.Lock()
			shares[id] = sh
			mu.Unlock()
		}
		return err
	}
}

// wantRejected asserts that every honest node's session ended with an
// AbortError naming culprit alone, caused by a *CheckError for check.
func wantRejected(t *testing.T, errs map[string]error, honest []string, culprit, check string) {
	t.Helper()
	for _, id := range honest {
		err := errs[id]
		var ae *tss.AbortError
		var ce *tss.CheckError
		if !errors.As(err, &ae) || !errors.As(err, &ce) || !errors.Is(err, tss.ErrMessageRejected) {
			t.Fatalf("%s: err = %v, want an AbortError from a failed check", id, err)
		}
		if !slices.Equal(ae.Culprits, []string{culprit}) || ce.Member != culprit || ce.Check != check {
			t.Fatalf("%s: culprits %v, check %q by %q (%v); want %s, %q", id, ae.Culprits, ce.Check, ce.Member, err, culprit, check)
		}
	}
}

// paillierFactor reads one prime factor of the Paillier modulus in a
// pre-params fixture (test-only secrets).
func paillierFactor(t *testing.T, i int) *big.Int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("testdata/preparams/n%d.json", i))
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Pre ecdsakeygen.LocalPreParams `json:"pre"`
	}
	if err := json.Unmarshal(b, &f); err != nil || f.Pre.PaillierSK == nil || f.Pre.PaillierSK.P == nil {
		t.Fatalf("pre-params fixture %d: %v", i, err)
	}
	return f.Pre.PaillierSK.P
}

// maliciousConfig bounds a malicious member's own session in case a test
// does not cancel it; long enough for ECDSA keygen on a loaded machine.
func maliciousConfig() tss.Config {
	c := testConfig()
	c.SessionTimeout = 3 * time.Minute
	return c
}
