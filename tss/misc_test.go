package tss_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss"
)

func TestAlgorithmNames(t *testing.T) {
	for _, a := range []tss.Algorithm{tss.ECDSASecp256k1, tss.Ed25519} {
		got, err := tss.ParseAlgorithm(a.String())
		if err != nil || got != a {
			t.Fatalf("%s: %v %v", a, got, err)
		}
	}
	if tss.ECDSASecp256k1.String() != "ecdsa-secp256k1" || tss.Ed25519.String() != "ed25519" {
		t.Fatal("algorithm names changed")
	}
	if _, err := tss.ParseAlgorithm("rsa"); err == nil {
		t.Fatal("parsed an unknown algorithm")
	}
}

func TestSessionIDBindsEveryField(t *testing.T) {
	base := tss.NewSessionID("c", "sign", 7, "r", 0)
	if base != tss.NewSessionID("c", "sign", 7, "r", 0) {
		t.Fatal("not deterministic")
	}
	for name, id := range map[string]tss.SessionID{
		"cluster": tss.NewSessionID("d", "sign", 7, "r", 0),
		"kind":    tss.NewSessionID("c", "keygen", 7, "r", 0),
		"index":   tss.NewSessionID("c", "sign", 8, "r", 0),
		"request": tss.NewSessionID("c", "sign", 7, "s", 0),
		"attempt": tss.NewSessionID("c", "sign", 7, "r", 1),
		// length prefixes keep field boundaries apart
		"shifted": tss.NewSessionID("cs", "ign", 7, "r", 0),
	} {
		if id == base {
			t.Errorf("%s does not change the ID", name)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	if err := tss.DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	bad := []func(*tss.Config){
		func(c *tss.Config) { c.MaxSessions = 0 },
		func(c *tss.Config) { c.MaxMessageBytes = 10 },
		func(c *tss.Config) { c.SessionTimeout = 0 },
		func(c *tss.Config) { c.MaxPendingPerSession = 0 },
		func(c *tss.Config) { c.MaxPendingTotal = 1; c.MaxPendingPerSession = 2 },
		func(c *tss.Config) { c.PendingTTL = 0 },
		func(c *tss.Config) { c.MaxPendingBytes = c.MaxMessageBytes - 1 },
		func(c *tss.Config) { c.MaxEd25519MessageBytes = 0 },
	}
	for i, mut := range bad {
		c := tss.DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("case %d accepted", i)
		}
		if _, err := tss.NewEngine(c, "n", nil, nil); err == nil {
			t.Errorf("case %d: NewEngine accepted", i)
		}
	}
}

func TestPreParamsFixtures(t *testing.T) {
	for i := 1; i <= 5; i++ {
		pp := loadPreParams(t, i)
		b, err := pp.MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tss.UnmarshalPreParams(b); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := tss.UnmarshalPreParams([]byte(`{"version":1,"pre":{}}`)); err == nil {
		t.Fatal("accepted empty pre-params")
	}
	if _, err := tss.LoadPreParamsFile("testdata/preparams/missing.json"); err == nil {
		t.Fatal("loaded a missing file")
	}
}

func TestGeneratePreParamsHonoursContext(t *testing.T) {
	// Never generates: the context is already over.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	_, err := tss.GeneratePreParams(ctx, nil)
	if !errors.Is(err, context.Canceled) || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %s", err, time.Since(start))
	}
}

func TestKeygenRequestValidation(t *testing.T) {
	_, engines, _ := freshCluster(t, testConfig())
	e := engines["node-a"]
	cases := map[string]tss.KeygenRequest{
		"algorithm":     {Algorithm: 9, Threshold: 1, Parties: members},
		"threshold 0":   {Algorithm: tss.Ed25519, Threshold: 0, Parties: members},
		"threshold n":   {Algorithm: tss.Ed25519, Threshold: 3, Parties: members},
		"self missing":  {Algorithm: tss.Ed25519, Threshold: 1, Parties: []string{"node-b", "node-c", "node-d"}},
		"duplicate":     {Algorithm: tss.Ed25519, Threshold: 1, Parties: []string{"node-a", "node-b", "node-b"}},
		"no pre-params": {Algorithm: tss.ECDSASecp256k1, Threshold: 1, Parties: members},
	}
	for name, r := range cases {
		r.Session = newSID(t)
		if _, err := e.Keygen(context.Background(), r); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}
