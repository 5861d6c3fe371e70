package sealingtest_test

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/sealing"
	"github.com/keyquorum/keyquorum/sealing/sealingtest"
)

func TestSoftwareSealerRoundTripAndIsolation(t *testing.T) {
	ctx := context.Background()
	b := sealing.Binding{ClusterID: "c", NodeID: "n1", Kind: sealing.KindShare, KeyID: "k", Version: 1}
	var s sealing.Sealer = sealingtest.New(t)
	blob, err := s.Seal(ctx, b, []byte("share"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(ctx, b, blob)
	if err != nil || !bytes.Equal(got, []byte("share")) {
		t.Fatalf("Open = %q, %v", got, err)
	}
	if _, err := sealingtest.New(t).Open(ctx, b, blob); !errors.Is(err, sealing.ErrBindingMismatch) {
		t.Fatalf("other sealer: err = %v, want ErrBindingMismatch", err)
	}
	kek := bytes.Repeat([]byte{7}, sealing.KEKSize)
	blob, err = sealingtest.FromKEK(t, kek).Seal(ctx, b, []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := sealingtest.FromKEK(t, kek).Open(ctx, b, blob); err != nil {
		t.Fatalf("same KEK: %v", err)
	}
}
