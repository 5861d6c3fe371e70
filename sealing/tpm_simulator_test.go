package sealing

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The go-tpm-tools simulator is one per process: these tests never run in
// parallel and close each TPM before opening the next.

func simConfig(dir string) Config { return DefaultConfig(dir) }

func TestSimulatorRoundTripRestartAndKEKNotOnDisk(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := simConfig(dir)

	s, b, blob := firstOpenSeals(t, cfg)
	sharePath := filepath.Join(dir, "shares", "k1", "v1.sealed")
	if err := os.MkdirAll(filepath.Dir(sharePath), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(sharePath, blob); err != nil {
		t.Fatal(err)
	}
	kek := kekCopy(t, s)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %x %d", s, s, s, s, s), s.String()} {
		if !strings.Contains(out, "REDACTED") || strings.Contains(out, fmt.Sprintf("%x", kek[:6])) {
			t.Fatalf("TPM prints %q", out)
		}
	}
	held := s.env.kek
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(held, make([]byte, KEKSize)) {
		t.Fatal("Close left the KEK in memory")
	}
	if _, err := s.Open(ctx, b, blob); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	s = mustOpenTPM(t, cfg)
	defer s.Close()
	if s.Created() {
		t.Fatal("reopen created a new KEK instead of unsealing the old one")
	}
	stored, err := ReadFile(sharePath)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(ctx, b, stored)
	if err != nil || string(got) != "node share" {
		t.Fatalf("open after restart: %q, %v", got, err)
	}
	if !bytes.Equal(kekCopy(t, s), kek) {
		t.Fatal("reopened KEK differs")
	}
	assertKEKNotOnDisk(t, dir, kek)
	for _, name := range []string{kekFileName, authFileName, simulatorSeedFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", name, fi.Mode().Perm())
		}
	}
}

func TestSimulatorPCRChangeFailsUnseal(t *testing.T) {
	cfg := simConfig(t.TempDir())
	s := mustOpenTPM(t, cfg)
	defer s.Close()
	if err := unsealAgain(t, s, cfg); err != nil {
		t.Fatalf("unseal before PCR change: %v", err)
	}
	// A PCR outside the policy does not matter.
	extendPCR(t, s, 23)
	if err := unsealAgain(t, s, cfg); err != nil {
		t.Fatalf("unseal after extending PCR 23 (not in policy): %v", err)
	}
	extendPCR(t, s, 16)
	err := unsealAgain(t, s, cfg)
	if !errors.Is(err, ErrPolicyMismatch) {
		t.Fatalf("after PCR 16 extend: err = %v, want ErrPolicyMismatch", err)
	}
}

func TestSimulatorWrongTPMAndTamperedBlob(t *testing.T) {
	dir := t.TempDir()
	cfg := simConfig(dir)
	mustOpenTPM(t, cfg).Close()

	kekPath := filepath.Join(dir, kekFileName)
	orig, err := ReadFile(kekPath)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := unmarshalSealedKEK(orig)
	if err != nil {
		t.Fatal(err)
	}

	// A flipped byte in the private area: the TPM's integrity check fails at Load.
	bad := *sk
	bad.priv = bytes.Clone(sk.priv)
	bad.priv[len(bad.priv)-1] ^= 1
	if err := WriteFile(kekPath, bad.marshal()); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTPM(context.Background(), cfg, testLogger(t)); !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("tampered private blob: err = %v, want ErrWrongTPM", err)
	}

	// Another simulator seed is another TPM.
	if err := WriteFile(kekPath, orig); err != nil {
		t.Fatal(err)
	}
	seed := make([]byte, 8)
	binary.BigEndian.PutUint64(seed, 42)
	if err := WriteFile(filepath.Join(dir, simulatorSeedFile), seed); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTPM(context.Background(), cfg, testLogger(t)); !errors.Is(err, ErrWrongTPM) {
		t.Fatalf("other seed: err = %v, want ErrWrongTPM", err)
	}
}

func TestSimulatorAuthFile(t *testing.T) {
	dir := t.TempDir()
	authPath := filepath.Join(t.TempDir(), "auth")
	if err := WriteFile(authPath, []byte("correct horse battery staple")); err != nil {
		t.Fatal(err)
	}
	cfg := simConfig(dir)
	cfg.AuthFile = authPath
	mustOpenTPM(t, cfg).Close()
	if _, err := os.Stat(filepath.Join(dir, authFileName)); !os.IsNotExist(err) {
		t.Fatalf("kek.auth written although AuthFile is set: %v", err)
	}

	if err := WriteFile(authPath, []byte("wrong horse battery staple")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenTPM(context.Background(), cfg, testLogger(t)); !errors.Is(err, ErrAuthMismatch) {
		t.Fatalf("wrong auth: err = %v, want ErrAuthMismatch", err)
	}

	// Without AuthFile, a missing kek.auth next to an existing KEK is an
	// error, not a silently regenerated value.
	cfg.AuthFile = ""
	if _, err := OpenTPM(context.Background(), cfg, testLogger(t)); !errors.Is(err, ErrAuthMismatch) {
		t.Fatalf("missing kek.auth: err = %v, want ErrAuthMismatch", err)
	}
}

func TestSimulatorSecondOpenWaitsForContext(t *testing.T) {
	cfg := simConfig(t.TempDir())
	s := mustOpenTPM(t, cfg)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := OpenTPM(ctx, simConfig(t.TempDir()), testLogger(t)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second simulator: err = %v, want DeadlineExceeded", err)
	}
	s.Close()
	// The abandoned Get acquires the simulator after Close and releases it.
	mustOpenTPM(t, simConfig(t.TempDir())).Close()
}
