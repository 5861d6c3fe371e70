package tss_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss"
)

// presignAll parks one presignature per committee member, in parallel.
func presignAll(t *testing.T, f *fixture, committee []string) map[string]*tss.Presignature {
	t.Helper()
	sid := newSID(t)
	ps, errs := onEach(committee, func(id string) (*tss.Presignature, error) {
		return f.engines[id].Presign(context.Background(), tss.PresignRequest{Session: sid, Share: f.shares[id], Committee: committee, TTL: time.Minute})
	})
	for _, id := range committee {
		if errs[id] != nil {
			t.Fatal(errs[id])
		}
	}
	return ps
}

func bindAll(t *testing.T, ps map[string]*tss.Presignature, digest []byte) map[string][]byte {
	t.Helper()
	sigs, errs := onEach(slices.Collect(maps.Keys(ps)), func(id string) ([]byte, error) {
		return ps[id].Sign(context.Background(), digest)
	})
	for id, err := range errs {
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
	}
	return sigs
}

// TestPresignatureBindsLaterAndSignsOnce pins keyquorum's reliance on
// tss-lib internals (the message read first in round 5 through the pointer
// given to NewLocalParty; round-4 messages as the parking point). If a
// tss-lib upgrade moves either, binding fails here.
func TestPresignatureBindsLaterAndSignsOnce(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	first := presignAll(t, f, committees[1])
	second := presignAll(t, f, committees[1])

	// Bind the second before the first: parked sessions are independent.
	d2 := append([]byte{0, 0}, randomBytes(t, 30)...) // leading zero bytes survive
	for _, sig := range bindAll(t, second, d2) {
		checkECDSA(t, f.shares["node-a"].PublicKey(), d2, sig)
	}
	d1 := randomBytes(t, 32)
	sigs := bindAll(t, first, d1)
	var prev []byte
	for _, sig := range sigs {
		checkECDSA(t, f.shares["node-a"].PublicKey(), d1, sig)
		if prev != nil && !bytes.Equal(prev, sig) {
			t.Fatal("members finished with different signatures")
		}
		prev = sig
	}
	for id, p := range first {
		if _, err := p.Sign(context.Background(), d1); !errors.Is(err, tss.ErrPresignUsed) {
			t.Fatalf("%s: second use of a presignature: %v, want ErrPresignUsed", id, err)
		}
	}
}

// A digest at or above the group order is refused exactly as the full
// protocol refuses it, and refusing it does not use the presignature up.
func TestPresignatureRefusesDigestAboveOrder(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	ps := presignAll(t, f, committees[1])
	high := bytes.Repeat([]byte{0xff}, 32)
	for id, p := range ps {
		if _, err := p.Sign(context.Background(), high); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Fatalf("%s: digest above the order: %v", id, err)
		}
	}
	_, full := f.engines["node-a"].Sign(context.Background(), tss.SignRequest{Session: newSID(t), Share: f.shares["node-a"], Committee: committees[1], Message: high})
	if !errors.Is(full, tss.ErrInvalidRequest) {
		t.Fatalf("full protocol, digest above the order: %v", full)
	}
	d := randomBytes(t, 32)
	for _, sig := range bindAll(t, ps, d) {
		checkECDSA(t, f.shares["node-a"].PublicKey(), d, sig)
	}
}

func TestDiscardedPresignatureNeverSigns(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	ps := presignAll(t, f, committees[1])
	for _, p := range ps {
		p.Discard()
		<-p.Done()
		if _, err := p.Sign(context.Background(), randomBytes(t, 32)); !errors.Is(err, tss.ErrPresignUsed) {
			t.Fatalf("discarded presignature: %v", err)
		}
	}
}
