package tss_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

var members = []string{"node-a", "node-b", "node-c"}

func TestMain(m *testing.M) {
	code := m.Run()
	// tss-lib's curve is process-global; keyquorum must never change it.
	if !tsslib.SameCurve(tsslib.EC(), tsslib.S256()) {
		fmt.Fprintln(os.Stderr, "tss-lib global curve changed during tests")
		code = 1
	}
	os.Exit(code)
}

func testConfig() tss.Config {
	c := tss.DefaultConfig()
	c.SessionTimeout = 60 * time.Second
	return c
}

// fixture is a 2-of-3 key shared by the tests of one test binary: ECDSA
// keygen costs seconds, so it runs once.
type fixture struct {
	net     *tsstest.Network
	engines map[string]*tss.Engine
	shares  map[string]*tss.Share
}

var (
	fixtures   = map[tss.Algorithm]*fixture{}
	fixtureErr = map[tss.Algorithm]error{}
	fixtureMu  sync.Mutex
)

func loadPreParams(t testing.TB, i int) *tss.PreParams {
	t.Helper()
	pp, err := tss.LoadPreParamsFile(fmt.Sprintf("testdata/preparams/n%d.json", i))
	if err != nil {
		t.Fatalf("load pre-params fixture: %v", err)
	}
	return pp
}

// sharedKey returns the binary's 2-of-3 key for alg, generating it once.
func sharedKey(t testing.TB, alg tss.Algorithm) *fixture {
	t.Helper()
	fixtureMu.Lock()
	defer fixtureMu.Unlock()
	if f := fixtures[alg]; f != nil {
		return f
	}
	if err := fixtureErr[alg]; err != nil {
		t.Fatalf("shared %s keygen failed earlier: %v", alg, err)
	}
	net, engines, err := tsstest.NewCluster(testConfig(), members...)
	if err != nil {
		t.Fatal(err)
	}
	shares, err := runKeygen(t, engines, alg, 1, "shared")
	if err != nil {
		fixtureErr[alg] = err
		t.Fatalf("keygen: %v", err)
	}
	f := &fixture{net: net, engines: engines, shares: shares}
	fixtures[alg] = f
	return f
}

func runKeygen(t testing.TB, engines map[string]*tss.Engine, alg tss.Algorithm, threshold int, req string) (map[string]*tss.Share, error) {
	t.Helper()
	sid := tss.NewSessionID("test", "keygen", 1, req, 0)
	ids := slices.Sorted(maps.Keys(engines))
	reqs := map[string]tss.KeygenRequest{}
	for i, id := range ids {
		r := tss.KeygenRequest{Session: sid, Algorithm: alg, Threshold: threshold, Parties: members}
		if alg == tss.ECDSASecp256k1 {
			r.PreParams = loadPreParams(t, i+1)
		}
		reqs[id] = r
	}
	shares, errs := onEach(ids, func(id string) (*tss.Share, error) {
		return engines[id].Keygen(context.Background(), reqs[id])
	})
	for _, id := range ids {
		if errs[id] != nil {
			return shares, fmt.Errorf("%s: %w", id, errs[id])
		}
	}
	return shares, nil
}

// signAll runs Sign on every committee member and returns each member's
// result. All members must return the same signature.
func signAll(ctx context.Context, engines map[string]*tss.Engine, shares map[string]*tss.Share,
	sid tss.SessionID, committee []string, msg []byte) (map[string][]byte, map[string]error) {
	return onEach(committee, func(id string) ([]byte, error) {
		return engines[id].Sign(ctx, tss.SignRequest{Session: sid, Share: shares[id], Committee: committee, Message: msg})
	})
}

// onEach runs run for every id at once and returns each one's result and
// error.
func onEach[T any](ids []string, run func(id string) (T, error)) (map[string]T, map[string]error) {
	type res struct {
		id  string
		v   T
		err error
	}
	ch := make(chan res, len(ids))
	for _, id := range ids {
		go func() {
			v, err := run(id)
			ch <- res{id, v, err}
		}()
	}
	vs, errs := map[string]T{}, map[string]error{}
	for range ids {
		r := <-ch
		vs[r.id], errs[r.id] = r.v, r.err
	}
	return vs, errs
}

func mustSign(t *testing.T, f *fixture, sid tss.SessionID, committee []string, msg []byte) []byte {
	t.Helper()
	sigs, errs := signAll(context.Background(), f.engines, f.shares, sid, committee, msg)
	var sig []byte
	for _, id := range committee {
		if errs[id] != nil {
			t.Fatalf("sign on %s: %v", id, errs[id])
		}
		if sig == nil {
			sig = sigs[id]
		} else if string(sig) != string(sigs[id]) {
			t.Fatalf("members returned different signatures")
		}
	}
	return sig
}

var sessionCounter struct {
	sync.Mutex
	n uint64
}

// newSID returns a fresh session ID for the test.
func newSID(t testing.TB) tss.SessionID {
	sessionCounter.Lock()
	defer sessionCounter.Unlock()
	sessionCounter.n++
	return tss.NewSessionID("test", "sign", sessionCounter.n, t.Name(), 0)
}

func randomBytes(t testing.TB, n int) []byte {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

var committees = [][]string{
	{"node-a", "node-b"}, {"node-a", "node-c"}, {"node-b", "node-c"},
}

// wantOnlyDuplicates wants the deliver errors of ids to be duplicates,
// and at least one.
func wantOnlyDuplicates(t *testing.T, net *tsstest.Network, ids []string) {
	t.Helper()
	dups := 0
	for _, id := range ids {
		for _, err := range net.Errors(id) {
			if !errors.Is(err, tss.ErrDuplicate) {
				t.Fatalf("%s: unexpected deliver error %v", id, err)
			}
			dups++
		}
	}
	if dups == 0 {
		t.Fatal("no duplicate was reported")
	}
}
