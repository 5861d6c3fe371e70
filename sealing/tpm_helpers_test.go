package sealing

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-tpm/tpm2"
)

func testLogger(t testing.TB) *slog.Logger {
	if _, ok := t.(*testing.B); ok {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func mustOpenTPM(t testing.TB, cfg Config) *TPM {
	t.Helper()
	s, err := OpenTPM(context.Background(), cfg, testLogger(t))
	if err != nil {
		t.Fatalf("OpenTPM(%s): %v", cfg.Backend, err)
	}
	return s
}

// firstOpenSeals opens a TPM sealer that must create its KEK, checks a
// round trip through it, and returns it with a binding and the blob of
// "node share" sealed under that binding.
func firstOpenSeals(t *testing.T, cfg Config) (*TPM, Binding, []byte) {
	t.Helper()
	s := mustOpenTPM(t, cfg)
	if !s.Created() {
		t.Fatal("first open did not create a KEK")
	}
	checkRoundTrip(t, s)
	b := testBinding()
	blob, err := s.Seal(context.Background(), b, []byte("node share"))
	if err != nil {
		t.Fatal(err)
	}
	return s, b, blob
}

// kekCopy returns the in-memory KEK, for tests that check it never reaches disk.
func kekCopy(t *testing.T, s *TPM) []byte {
	t.Helper()
	s.env.mu.RLock()
	defer s.env.mu.RUnlock()
	return bytes.Clone(s.env.kek)
}

// assertKEKNotOnDisk scans every file under dir for the KEK in raw and hex form.
func assertKEKNotOnDisk(t *testing.T, dir string, kek []byte) {
	t.Helper()
	if len(kek) != KEKSize {
		t.Fatalf("KEK is %d bytes", len(kek))
	}
	needles := [][]byte{kek, []byte(hex.EncodeToString(kek))}
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		files++
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, n := range needles {
			if bytes.Contains(b, n) {
				t.Errorf("KEK found in %s", path)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no files scanned in %s", dir)
	}
}

// extendPCR changes a PCR through the sealer's own TPM connection.
func extendPCR(t *testing.T, s *TPM, pcr int) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	d := sha256.Sum256([]byte("keyquorum test measurement"))
	_, err := tpm2.PCRExtend{
		PCRHandle: tpm2.AuthHandle{Handle: tpm2.TPMHandle(pcr), Auth: tpm2.PasswordAuth(nil)},
		Digests: tpm2.TPMLDigestValues{Digests: []tpm2.TPMTHA{{
			HashAlg: tpm2.TPMAlgSHA256, Digest: d[:],
		}}},
	}.Execute(s.tpm)
	if err != nil {
		t.Fatalf("PCR extend %d: %v", pcr, err)
	}
}

// readSealedKEK reads dir/kek.sealed and the auth value the start-up
// unseal opens it with.
func readSealedKEK(tb testing.TB, cfg Config, log *slog.Logger) (*sealedKEK, []byte) {
	tb.Helper()
	b, err := ReadFile(filepath.Join(cfg.Dir, kekFileName))
	if err != nil {
		tb.Fatal(err)
	}
	sk, err := unmarshalSealedKEK(b)
	if err != nil {
		tb.Fatal(err)
	}
	auth, err := authValue(cfg, true, log)
	if err != nil {
		tb.Fatal(err)
	}
	return sk, auth
}

// unsealAgain replays the start-up unseal from dir/kek.sealed on the
// sealer's open TPM connection, as a restart would.
func unsealAgain(t *testing.T, s *TPM, cfg Config) error {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	sk, auth := readSealedKEK(t, cfg, testLogger(t))
	srk, err := createSRK(s.tpm)
	if err != nil {
		t.Fatal(err)
	}
	defer flush(s.tpm, srk.handle, s.log)
	kek, err := unsealKEK(s.tpm, srk, sk, auth, s.log)
	clear(kek)
	return err
}
