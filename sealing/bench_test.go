package sealing

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSealOpen measures one envelope round trip (the per-share cost
// once the node runs) and the TPM work OpenTPM does at start: create the
// SRK, load and unseal the KEK in a salted policy session, flush.
func BenchmarkSealOpen(b *testing.B) {
	ctx := context.Background()
	b.Run("envelope-4KiB", func(b *testing.B) {
		s := mustOpenTPM(b, simConfig(b.TempDir()))
		defer s.Close()
		msg := make([]byte, 4096)
		bd := testBinding()
		b.SetBytes(int64(len(msg)))
		for b.Loop() {
			blob, err := s.Seal(ctx, bd, msg)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Open(ctx, bd, blob); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("kek-unseal-simulator", func(b *testing.B) {
		cfg := simConfig(b.TempDir())
		s := mustOpenTPM(b, cfg)
		defer s.Close()
		benchUnseal(b, s, cfg)
	})
	b.Run("kek-unseal-swtpm", func(b *testing.B) {
		sw := startSWTPM(b, b.TempDir())
		cfg := sw.config(b.TempDir())
		s := mustOpenTPM(b, cfg)
		defer s.Close()
		benchUnseal(b, s, cfg)
	})
}

func benchUnseal(b *testing.B, s *TPM, cfg Config) {
	sk, auth := readSealedKEK(b, cfg, s.log)
	var srkTime time.Duration
	for b.Loop() {
		start := time.Now()
		srk, err := createSRK(s.tpm)
		if err != nil {
			b.Fatal(err)
		}
		srkTime += time.Since(start)
		kek, err := unsealKEK(s.tpm, srk, sk, auth, s.log)
		flush(s.tpm, srk.handle, s.log)
		if err != nil {
			b.Fatal(err)
		}
		clear(kek)
	}
	b.ReportMetric(float64(srkTime.Microseconds())/float64(b.N), "srk-µs/op")
}
