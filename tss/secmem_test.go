package tss_test

import (
	"context"
	"math/big"
	"slices"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
)

// slab is a test allocator: one array the moved secrets must land in, so
// the test can see them there and see them gone after release.
type slab struct {
	mem  []big.Word
	used int
}

func (s *slab) words(_ *big.Int, n int) []big.Word {
	w := s.mem[s.used : s.used+n]
	s.used += n
	return w
}

func TestMovedSecretsStillSignAndReleaseWipesThem(t *testing.T) {
	for _, alg := range []tss.Algorithm{tss.Ed25519, tss.ECDSASecp256k1} {
		t.Run(alg.String(), func(t *testing.T) {
			f := sharedKey(t, alg)
			committee := []string{"node-a", "node-b"}
			moved, slabs := map[string]*tss.Share{}, map[string]*slab{}
			for _, id := range committee {
				b, err := f.shares[id].MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				sh, err := tss.UnmarshalShare(b)
				if err != nil {
					t.Fatal(err)
				}
				s := &slab{mem: make([]big.Word, 1024)}
				if err := sh.MoveSecrets(s.words); err != nil {
					t.Fatal(err)
				}
				if s.used == 0 || !slices.ContainsFunc(s.mem, func(w big.Word) bool { return w != 0 }) {
					t.Fatalf("%s: no secret words moved", id)
				}
				moved[id], slabs[id] = sh, s
			}
			sigs, errs := signAll(context.Background(), f.engines, moved, newSID(t), committee, randomBytes(t, 32))
			for _, id := range committee {
				if errs[id] != nil || len(sigs[id]) == 0 {
					t.Fatalf("sign with moved secrets on %s: %v", id, errs[id])
				}
			}
			for _, id := range committee {
				moved[id].ReleaseSecrets()
				if i := slices.IndexFunc(slabs[id].mem, func(w big.Word) bool { return w != 0 }); i >= 0 {
					t.Fatalf("%s: word %d of the secret memory survived release", id, i)
				}
				if _, err := moved[id].MarshalBinary(); err == nil {
					t.Fatalf("%s: released share still encodes", id)
				}
			}
		})
	}
}

func TestPreParamsMoveAndRelease(t *testing.T) {
	pp := loadPreParams(t, 1)
	s := &slab{mem: make([]big.Word, 4096)}
	if err := pp.MoveSecrets(s.words); err != nil {
		t.Fatal(err)
	}
	// Still whole: the moved integers encode and validate.
	if _, err := pp.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	pp.ReleaseSecrets()
	if slices.ContainsFunc(s.mem, func(w big.Word) bool { return w != 0 }) {
		t.Fatal("pre-params secret words survived release")
	}
}
