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

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/malice"
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
// commitment to forge(D) instead of its real decommitment D, keeping its
// round-1 commitment consistent (malice.ForgeVSS).
func forgeVSS(t *testing.T, net *tsstest.Network, bad string, forge func(d [][]byte) [][]byte) tsstest.Rule {
	return playing(t, net, bad, malice.ForgeVSS(forge))
}

// playing returns a rule under which member bad's outbound messages go
// through the malicious member f: a message it holds back is not sent,
// and one it releases ahead of another is injected first.
func playing(t *testing.T, net *tsstest.Network, bad string, f *malice.Member) tsstest.Rule {
	return func(m *tss.Message, to string) bool {
		if m.From != bad {
			return true
		}
		out, err := f.Outbound(*m, to)
		if err != nil {
			t.Errorf("malicious %s: %v", bad, err)
			return true
		}
		if len(out) == 0 {
			return false
		}
		for _, early := range out[:len(out)-1] {
			if err := net.Inject(to, early); err != nil {
				t.Errorf("inject: %v", err)
			}
		}
		*m = out[len(out)-1]
		return true
	}
}

// shape returns a rule under which member bad sends shape (a factor of
// its Paillier modulus for ModProofGCD).
func shape(t *testing.T, net *tsstest.Network, bad string, s malice.Shape, factor *big.Int) tsstest.Rule {
	f, err := malice.New(s, factor)
	if err != nil {
		t.Fatal(err)
	}
	return playing(t, net, bad, f)
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
