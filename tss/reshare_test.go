package tss_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

// reshareCluster returns fresh engines for ids on a new network.
func reshareCluster(t *testing.T, cfg tss.Config, ids ...string) (*tsstest.Network, map[string]*tss.Engine) {
	t.Helper()
	net, engines, err := tsstest.NewCluster(cfg, ids...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(net.Close)
	return net, engines
}

// runReshare runs Reshare on every node in reqs concurrently.
func runReshare(engines map[string]*tss.Engine, reqs map[string]tss.ReshareRequest) (map[string]*tss.Share, map[string]error) {
	return onEach(slices.Collect(maps.Keys(reqs)), func(id string) (*tss.Share, error) {
		return engines[id].Reshare(context.Background(), reqs[id])
	})
}

// reshareReqs builds one request per node of old committee ∪ new parties.
// Old-committee nodes pass their share; others pass only the public key.
func reshareReqs(t *testing.T, old map[string]*tss.Share, oldCommittee, newParties []string, newT int, pp func(string) *tss.PreParams) map[string]tss.ReshareRequest {
	t.Helper()
	var any *tss.Share
	for _, sh := range old {
		any = sh
		break
	}
	base := tss.ReshareRequest{
		Session:      newSID(t),
		OldCommittee: oldCommittee,
		OldParties:   any.Parties(),
		NewParties:   newParties,
		NewThreshold: newT,
		Epoch:        any.Epoch() + 1,
		Algorithm:    any.Algorithm(),
	}
	reqs := map[string]tss.ReshareRequest{}
	for _, id := range append(slices.Clone(oldCommittee), newParties...) {
		r := base
		if slices.Contains(oldCommittee, id) {
			r.Share = old[id]
		} else {
			r.PublicKey = any.PublicKey()
		}
		if pp != nil && slices.Contains(newParties, id) {
			r.PreParams = pp(id)
		}
		reqs[id] = r
	}
	return reqs
}

func mustReshare(t *testing.T, engines map[string]*tss.Engine, reqs map[string]tss.ReshareRequest) map[string]*tss.Share {
	t.Helper()
	start := time.Now()
	shares, errs := runReshare(engines, reqs)
	t.Logf("reshare took %s", time.Since(start))
	for id, err := range errs {
		if err != nil {
			t.Fatalf("reshare on %s: %v", id, err)
		}
	}
	return shares
}

func marshalAll(t *testing.T, shares map[string]*tss.Share) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for id, sh := range shares {
		b, err := sh.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		out[id] = b
	}
	return out
}

// checkNewShares asserts the new shares' public facts.
func checkNewShares(t *testing.T, shares map[string]*tss.Share, pub []byte, parties []string, threshold int, epoch uint32) {
	t.Helper()
	want := slices.Sorted(slices.Values(parties))
	for _, id := range parties {
		sh := shares[id]
		if sh == nil {
			t.Fatalf("%s got no new share", id)
		}
		if !bytes.Equal(sh.PublicKey(), pub) || sh.Threshold() != threshold || sh.Epoch() != epoch ||
			sh.Self() != id || !slices.Equal(sh.Parties(), want) {
			t.Fatalf("%s: new share %v, want pub %x t=%d epoch %d parties %v", id, sh, pub, threshold, epoch, want)
		}
	}
}

func signEd25519(t *testing.T, engines map[string]*tss.Engine, shares map[string]*tss.Share, committee []string, pub []byte) {
	t.Helper()
	msg := []byte(fmt.Sprintf("after reshare, signed by %v", committee))
	sig := mustSign(t, &fixture{engines: engines, shares: shares}, newSID(t), committee, msg)
	if !ed25519.Verify(pub, msg, sig) {
		t.Fatalf("committee %v: crypto/ed25519 rejects the signature", committee)
	}
}

func TestEd25519ReshareSameMembers(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	pub := f.shares["node-a"].PublicKey()
	_, engines := reshareCluster(t, testConfig(), members...)
	before := marshalAll(t, f.shares)

	// node-c is not in the old committee: it only receives.
	reqs := reshareReqs(t, f.shares, []string{"node-a", "node-b"}, members, 1, nil)
	if reqs["node-c"].Share != nil {
		t.Fatal("node-c should only receive")
	}
	newShares := mustReshare(t, engines, reqs)
	checkNewShares(t, newShares, pub, members, 1, 1)

	// The callers' old shares are untouched (tss-lib zeroes the dealer's
	// secret in place; Reshare hands it a copy) ...
	if after := marshalAll(t, f.shares); !mapsEqual(before, after) {
		t.Fatal("Reshare modified the caller's old share")
	}
	// ... and new shares differ from old ones (a refresh, not a copy).
	for id, b := range marshalAll(t, newShares) {
		if bytes.Equal(b, before[id]) {
			t.Fatalf("%s: new share equals the old one", id)
		}
	}
	for _, c := range committees {
		signEd25519(t, engines, newShares, c, pub)
	}
	// Old shares still sign among themselves: the key stays usable until
	// the old shares are destroyed.
	signEd25519(t, engines, f.shares, committees[0], pub)

	// An old share and a new one do not combine. The epochs give the two
	// members different party keys for each other, and their secrets lie on
	// different polynomials, so the session must fail, never sign.
	mixed := map[string]*tss.Share{"node-a": f.shares["node-a"], "node-b": newShares["node-b"]}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sigs, errs := signAll(ctx, engines, mixed, newSID(t), committees[0], []byte("mixed epochs"))
	for _, id := range committees[0] {
		if errs[id] == nil {
			t.Fatalf("%s signed with a mix of old and new shares: %x", id, sigs[id])
		}
	}
	t.Logf("mixed committee fails with: %v", errs["node-a"])
}

func mapsEqual(a, b map[string][]byte) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !bytes.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

func TestEd25519ReshareToOtherMembersAndThreshold(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	pub := f.shares["node-a"].PublicKey()
	all := []string{"node-a", "node-b", "node-c", "node-d", "node-e"}
	net, engines := reshareCluster(t, testConfig(), all...)
	// Deliver every message twice: the copies must be dropped, including
	// those for a node that runs a party in each committee (node-c).
	var once sync.Map
	net.SetRule(func(m *tss.Message, to string) bool {
		if _, loaded := once.LoadOrStore(string(m.Payload)+"|"+m.From+"|"+to, true); !loaded {
			_ = net.Inject(to, *m)
		}
		return true
	})
	// 2-of-3 {a,b,c} -> 3-of-4 {b,c,d,e}. node-a deals only, node-c deals
	// and receives, node-b holds an old share but only receives, node-d and
	// node-e are new.
	newParties := []string{"node-b", "node-c", "node-d", "node-e"}
	reqs := reshareReqs(t, f.shares, []string{"node-a", "node-c"}, newParties, 2, nil)
	if reqs["node-b"].Share != nil || reqs["node-a"].Share == nil || reqs["node-c"].Share == nil {
		t.Fatal("request roles are not what the test means")
	}
	newShares := mustReshare(t, engines, reqs)
	if newShares["node-a"] != nil {
		t.Fatal("old-only node-a got a new share")
	}
	checkNewShares(t, newShares, pub, newParties, 2, 1)
	for _, c := range [][]string{{"node-b", "node-c", "node-d"}, {"node-c", "node-d", "node-e"}, {"node-b", "node-d", "node-e"}} {
		signEd25519(t, engines, newShares, c, pub)
	}
	wantOnlyDuplicates(t, net, all)
	// t+1 = 3 now: two new holders are not enough.
	_, err := engines["node-b"].Sign(context.Background(), tss.SignRequest{Session: newSID(t),
		Share: newShares["node-b"], Committee: []string{"node-b", "node-c"}, Message: []byte("x")})
	if !errors.Is(err, tss.ErrInvalidRequest) {
		t.Fatalf("2 signers for a 3-of-4 key: err = %v", err)
	}
}

func TestECDSAReshareSameMembersThenSign(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	pub := f.shares["node-a"].PublicKey()
	_, engines := reshareCluster(t, testConfig(), members...)
	before := marshalAll(t, f.shares)
	// Fresh pre-parameters for the new shares (fixtures 3-5; keygen used 1-3).
	pp := map[string]int{"node-a": 4, "node-b": 5, "node-c": 3}
	reqs := reshareReqs(t, f.shares, []string{"node-b", "node-c"}, members, 1,
		func(id string) *tss.PreParams { return loadPreParams(t, pp[id]) })
	newShares := mustReshare(t, engines, reqs)
	checkNewShares(t, newShares, pub, members, 1, 1)
	if after := marshalAll(t, f.shares); !mapsEqual(before, after) {
		t.Fatal("Reshare modified the caller's old share")
	}
	digest := randomBytes(t, 32)
	sig := mustSign(t, &fixture{engines: engines, shares: newShares}, newSID(t), committees[1], digest)
	checkECDSA(t, pub, digest, sig)
	// The new shares survive the encoding and still sign.
	restored := map[string]*tss.Share{}
	for id, sh := range newShares {
		b, err := sh.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if restored[id], err = tss.UnmarshalShare(b); err != nil {
			t.Fatalf("unmarshal %s: %v", id, err)
		}
	}
	digest = randomBytes(t, 32)
	sig = mustSign(t, &fixture{engines: engines, shares: restored}, newSID(t), committees[0], digest)
	checkECDSA(t, pub, digest, sig)
}

func TestReshareStalledNewPartyTimesOut(t *testing.T) {
	cfg := testConfig()
	// Long enough for node-a and node-b to finish everything that does
	// not need node-d, even under the race detector.
	cfg.SessionTimeout = 1500 * time.Millisecond
	f := sharedKey(t, tss.Ed25519)
	all := []string{"node-a", "node-b", "node-c", "node-d"}
	_, engines := reshareCluster(t, cfg, all...)
	reqs := reshareReqs(t, f.shares, []string{"node-a", "node-b"}, []string{"node-a", "node-b", "node-d"}, 1, nil)
	delete(reqs, "node-d") // node-d never runs its side
	_, errs := runReshare(engines, reqs)
	for _, id := range []string{"node-a", "node-b"} {
		var ae *tss.AbortError
		if !errors.As(errs[id], &ae) || !errors.Is(errs[id], tss.ErrTimeout) {
			t.Fatalf("%s: err = %v, want AbortError wrapping ErrTimeout", id, errs[id])
		}
		if !slices.Contains(ae.Stalled, "node-d") {
			t.Fatalf("%s: stalled = %v, want node-d among them", id, ae.Stalled)
		}
		if engines[id].Running() != 0 {
			t.Fatalf("%s: session still registered", id)
		}
	}
}

func TestReshareRequestValidation(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	_, engines := reshareCluster(t, testConfig(), members...)
	e := engines["node-a"]
	good := reshareReqs(t, f.shares, []string{"node-a", "node-b"}, members, 1, nil)
	pub := f.shares["node-a"].PublicKey()
	mut := func(id string, fn func(r *tss.ReshareRequest)) tss.ReshareRequest {
		r := good[id]
		fn(&r)
		return r
	}
	cases := map[string]tss.ReshareRequest{
		"epoch 0":          mut("node-a", func(r *tss.ReshareRequest) { r.Epoch = 0 }),
		"epoch skips":      mut("node-a", func(r *tss.ReshareRequest) { r.Epoch = 2 }),
		"algorithm":        mut("node-a", func(r *tss.ReshareRequest) { r.Algorithm = tss.ECDSASecp256k1 }),
		"no share":         mut("node-a", func(r *tss.ReshareRequest) { r.Share = nil; r.PublicKey = pub }),
		"other's share":    mut("node-a", func(r *tss.ReshareRequest) { r.Share = f.shares["node-b"] }),
		"committee size":   mut("node-a", func(r *tss.ReshareRequest) { r.OldCommittee = members }),
		"outsider dealer":  mut("node-a", func(r *tss.ReshareRequest) { r.OldCommittee = []string{"node-a", "node-z"} }),
		"old parties":      mut("node-a", func(r *tss.ReshareRequest) { r.OldParties = []string{"node-a", "node-b"} }),
		"new threshold 0":  mut("node-a", func(r *tss.ReshareRequest) { r.NewThreshold = 0 }),
		"new threshold n":  mut("node-a", func(r *tss.ReshareRequest) { r.NewThreshold = 3 }),
		"repeated new":     mut("node-a", func(r *tss.ReshareRequest) { r.NewParties = []string{"node-a", "node-b", "node-b"} }),
		"wrong public key": mut("node-a", func(r *tss.ReshareRequest) { r.PublicKey = make([]byte, 32) }),
		"neither committee": mut("node-a", func(r *tss.ReshareRequest) {
			r.OldCommittee = []string{"node-b", "node-c"}
			r.NewParties = []string{"node-b", "node-c"}
		}),
	}
	for name, r := range cases {
		if _, err := e.Reshare(context.Background(), r); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	// A receive-only node needs the public key to check its new share.
	r := good["node-c"]
	r.PublicKey = nil
	if _, err := engines["node-c"].Reshare(context.Background(), r); !errors.Is(err, tss.ErrInvalidRequest) {
		t.Errorf("receive-only without public key: err = %v", err)
	}
	// An ECDSA new party needs pre-parameters.
	er := good["node-c"]
	er.Algorithm, er.PublicKey = tss.ECDSASecp256k1, make([]byte, 33)
	if _, err := engines["node-c"].Reshare(context.Background(), er); !errors.Is(err, tss.ErrInvalidRequest) {
		t.Errorf("ECDSA without pre-params: err = %v", err)
	}
	if n := e.Running(); n != 0 {
		t.Fatalf("%d sessions left running", n)
	}
}

func TestShareEpochEncoding(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	_, engines := reshareCluster(t, testConfig(), members...)
	newShares := mustReshare(t, engines, reshareReqs(t, f.shares, []string{"node-b", "node-c"}, members, 1, nil))
	b, err := newShares["node-a"].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"version":2`) || !strings.Contains(string(b), `"epoch":1`) {
		t.Fatalf("epoch-1 share encoding lacks version 2 or epoch 1")
	}
	r, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch() != 1 || !bytes.Equal(r.PublicKey(), newShares["node-a"].PublicKey()) || !strings.Contains(r.String(), "epoch=1") {
		t.Fatalf("restored %v", r)
	}
	// Party keys are bound to the epoch: a share relabelled to another
	// epoch, or posing as a version 1 (epoch 0) share, is rejected.
	for name, m := range map[string]string{
		"epoch 2":       strings.Replace(string(b), `"epoch":1`, `"epoch":2`, 1),
		"epoch 0":       strings.Replace(string(b), `"epoch":1`, `"epoch":0`, 1),
		"v1 with epoch": strings.Replace(string(b), `"version":2`, `"version":1`, 1),
		"v1 as epoch 0": strings.Replace(strings.Replace(string(b), `"version":2`, `"version":1`, 1), `"epoch":1,`, ``, 1),
	} {
		if m == string(b) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := tss.UnmarshalShare([]byte(m)); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	// A second reshare moves on to epoch 2 and still signs.
	next := mustReshare(t, engines, reshareReqs(t, newShares, []string{"node-a", "node-c"}, members, 1, nil))
	checkNewShares(t, next, newShares["node-a"].PublicKey(), members, 1, 2)
	signEd25519(t, engines, next, committees[2], newShares["node-a"].PublicKey())
}

// TestVersion1ShareLoads loads shares encoded before epochs existed
// (testdata/share-v1-*.json, TEST-ONLY) and signs with them: epoch 0 keeps
// the party keys keygen always derived.
func TestVersion1ShareLoads(t *testing.T) {
	shares, encoded := storedV1Shares(t)
	for _, id := range members {
		if b := encoded[id]; !bytes.Contains(b, []byte(`"version":1`)) || bytes.Contains(b, []byte(`"epoch"`)) {
			t.Fatal("golden file is not a version 1 share")
		}
		if sh := shares[id]; sh.Epoch() != 0 || sh.Self() != id || sh.Threshold() != 1 {
			t.Fatalf("loaded %v", sh)
		}
	}
	pub := shares["node-a"].PublicKey()
	_, engines := reshareCluster(t, testConfig(), members...)
	signEd25519(t, engines, shares, committees[1], pub)
	// Re-encoding writes version 2, epoch 0, and loads again.
	b, err := shares["node-a"].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(b, []byte(`"version":2`)) || !bytes.Contains(b, []byte(`"epoch":0`)) {
		t.Fatal("re-encoded share is not version 2 epoch 0")
	}
	if _, err := tss.UnmarshalShare(b); err != nil {
		t.Fatal(err)
	}
	// And a version 1 share reshares to epoch 1.
	next := mustReshare(t, engines, reshareReqs(t, shares, []string{"node-a", "node-b"}, members, 1, nil))
	checkNewShares(t, next, pub, members, 1, 1)
	signEd25519(t, engines, next, committees[0], pub)
}

// storedV1Shares loads the tss-lib EdDSA shares of every member stored
// before epochs existed (testdata/share-v1-ed25519-*.json, TEST-ONLY) and
// returns them with their encodings.
func storedV1Shares(t *testing.T) (map[string]*tss.Share, map[string][]byte) {
	t.Helper()
	shares, encoded := map[string]*tss.Share{}, map[string][]byte{}
	for _, id := range members {
		b, err := os.ReadFile(filepath.Join("testdata", "share-v1-ed25519-"+id+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if shares[id], err = tss.UnmarshalShare(b); err != nil {
			t.Fatalf("version 1 share of %s does not load: %v", id, err)
		}
		encoded[id] = b
	}
	return shares, encoded
}
