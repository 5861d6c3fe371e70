package sealing

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

func TestSWTPMRoundTripRestartAndPCRPolicy(t *testing.T) {
	ctx := context.Background()
	state, dir := t.TempDir(), t.TempDir()
	sw := startSWTPM(t, state)

	s, b, blob := firstOpenSeals(t, sw.config(dir))
	kek := kekCopy(t, s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// swtpm crashes and comes back on the same state dir (and a new port).
	sw.restart()
	s = mustOpenTPM(t, sw.config(dir))
	if s.Created() {
		t.Fatal("reopen created a new KEK")
	}
	if got, err := s.Open(ctx, b, blob); err != nil || string(got) != "node share" {
		t.Fatalf("open after swtpm restart: %q, %v", got, err)
	}
	if !bytes.Equal(kekCopy(t, s), kek) {
		t.Fatal("reopened KEK differs")
	}
	assertKEKNotOnDisk(t, dir, kek)
	assertKEKNotOnDisk(t, state, kek)

	// A PCR in the policy changes while the TPM stays up: the next start fails.
	extendPCR(t, s, 16)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTPM(ctx, sw.config(dir), testLogger(t)); !errors.Is(err, ErrPolicyMismatch) {
		t.Fatalf("after PCR 16 extend: err = %v, want ErrPolicyMismatch", err)
	}

	// TPM2_Startup(CLEAR) resets PCR 16, which is why it is a dev-only policy.
	sw.restart()
	s = mustOpenTPM(t, sw.config(dir))
	defer s.Close()
	if _, err := s.Open(ctx, b, blob); err != nil {
		t.Fatalf("open after PCR reset: %v", err)
	}
}

func TestSWTPMFlushesLeftoverHandles(t *testing.T) {
	sw := startSWTPM(t, t.TempDir())
	plat, err := platformAddress(sw.addr)
	if err != nil {
		t.Fatal(err)
	}
	// A client that dies without flushing fills swtpm's three object slots.
	raw, err := tcp.Open(tcp.Config{CommandAddress: sw.addr, PlatformAddress: plat})
	if err != nil {
		t.Fatal(err)
	}
	var slotsFull bool
	for range 4 {
		if _, err := createSRK(raw); err != nil {
			if !errors.Is(err, tpm2.TPMRCObjectMemory) {
				t.Fatalf("create SRK: %v", err)
			}
			slotsFull = true
		}
	}
	if !slotsFull {
		t.Fatal("four unflushed SRKs fit: the test no longer fills the slots")
	}
	// And it leaves sessions open (swtpm keeps three loaded sessions too).
	for range 3 {
		if _, _, err := tpm2.PolicySession(raw, tpm2.TPMAlgSHA256, 16); err != nil {
			t.Fatalf("policy session: %v", err)
		}
	}
	if _, _, err := tpm2.HMACSession(raw, tpm2.TPMAlgSHA256, 16); err == nil {
		t.Fatal("a fourth session fits: the test no longer fills the session slots")
	}
	if err := raw.Close(); err != nil {
		t.Fatal(err)
	}

	s := mustOpenTPM(t, sw.config(t.TempDir()))
	defer s.Close()
	if _, err := s.Seal(context.Background(), testBinding(), []byte("x")); err != nil {
		t.Fatal(err)
	}
	// OpenTPM itself leaves nothing loaded behind.
	for _, first := range []uint32{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{Capability: tpm2.TPMCapHandles, Property: first, PropertyCount: 64}.Execute(s.tpm)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range hs.Handle {
			if uint32(h)>>24 == first>>24 || (first == 0x02000000 && uint32(h)>>24 == 0x03) {
				t.Errorf("handle %#x still loaded after OpenTPM", uint32(h))
			}
		}
	}
}
