package sealing

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/google/go-tpm/tpm2/transport"
)

const kekFileName = "kek.sealed"

// TPM is the production Sealer: an Envelope keyed by a KEK that the TPM
// unsealed at OpenTPM. It keeps the TPM connection open until Close (swtpm
// serves one client at a time; the simulator is one per process).
//
// Seal and Open never touch the TPM and are safe for concurrent use. The
// KEK is secret: TPM never prints it, and Close wipes it.
type TPM struct {
	env     *Envelope
	backend string
	log     *slog.Logger

	mu      sync.Mutex // guards tpm
	tpm     transport.TPMCloser
	pcrs    []uint // the PCRs the KEK is sealed to
	created bool
	unseal  time.Duration
}

// OpenTPM connects to the configured TPM and returns a Sealer keyed by the
// node's KEK. If Dir/kek.sealed exists it is loaded and unsealed; otherwise a
// fresh random KEK is sealed, unsealed once as a self-test, and written
// there. Errors wrap ErrInvalidConfig, ErrWrongTPM (the blob belongs to
// another or a cleared TPM), ErrPolicyMismatch (the sealed PCRs changed) or
// ErrAuthMismatch (wrong auth value). A nil log discards logging.
func OpenTPM(ctx context.Context, cfg Config, log *slog.Logger) (_ *TPM, err error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("sealing: create dir: %w", err)
	}
	kekPath := filepath.Join(cfg.Dir, kekFileName)
	var sealed *sealedKEK
	switch b, err := ReadFile(kekPath); {
	case err == nil:
		if sealed, err = unmarshalSealedKEK(b); err != nil {
			return nil, fmt.Errorf("%w: %s", err, kekPath)
		}
	case !errors.Is(err, fs.ErrNotExist):
		return nil, err
	}
	auth, err := authValue(cfg, sealed != nil, log)
	if err != nil {
		return nil, err
	}
	defer clear(auth)

	tpm, err := openTransport(ctx, cfg, log)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tpm.Close()
		}
	}()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sealing: open: %w", err)
	}
	if err := flushTransients(tpm, log); err != nil {
		return nil, err
	}
	start := time.Now()
	srk, err := createSRK(tpm)
	if err != nil {
		return nil, err
	}
	defer flush(tpm, srk.handle, log)

	t := &TPM{backend: cfg.Backend, log: log, tpm: tpm}
	var kek []byte
	if sealed == nil {
		t.created = true
		if sealed, kek, err = createKEK(tpm, srk, cfg.sortedPCRs(), auth, log); err != nil {
			return nil, err
		}
		if err := WriteFile(kekPath, sealed.marshal()); err != nil {
			clear(kek)
			return nil, err
		}
		log.Info("sealing: created and sealed a new node KEK", "path", kekPath, "pcrs", sealed.pcrs)
	} else {
		if !slices.Equal(sealed.pcrs, cfg.sortedPCRs()) {
			log.Warn("sealing: the KEK is sealed to other PCRs than configured; using the sealed ones (reseal to change)",
				"sealed", sealed.pcrs, "configured", cfg.sortedPCRs())
		}
		if kek, err = unsealKEK(tpm, srk, sealed, auth, log); err != nil {
			return nil, err
		}
	}
	defer clear(kek)
	t.unseal = time.Since(start)
	t.pcrs = sealed.pcrs
	if t.env, err = NewEnvelope(kek); err != nil {
		return nil, err
	}
	log.Info("sealing: KEK ready", "backend", cfg.Backend, "pcrs", sealed.pcrs, "created", t.created, "tpm_time", t.unseal)
	return t, nil
}

// createKEK seals a fresh random KEK and unseals it once, so a KEK that
// could not be recovered is never written to disk or used.
func createKEK(tpm transport.TPM, s *srk, pcrs []uint, auth []byte, log *slog.Logger) (*sealedKEK, []byte, error) {
	kek := make([]byte, KEKSize)
	defer clear(kek)
	if _, err := rand.Read(kek); err != nil {
		return nil, nil, fmt.Errorf("sealing: generate KEK: %w", err)
	}
	sealed, err := sealKEK(tpm, s, pcrs, auth, kek)
	if err != nil {
		return nil, nil, err
	}
	back, err := unsealKEK(tpm, s, sealed, auth, log)
	if err != nil {
		return nil, nil, fmt.Errorf("sealing: self-test of the new KEK: %w", err)
	}
	if string(back) != string(kek) {
		clear(back)
		return nil, nil, errors.New("sealing: self-test of the new KEK: unsealed value differs")
	}
	return sealed, back, nil
}

// Created reports whether OpenTPM sealed a new KEK rather than unsealing an
// existing one. A node that finds sealed shares on disk but a new KEK has
// lost its old kek.sealed: those shares will not open.
func (t *TPM) Created() bool { return t.created }

// UnsealDuration is the TPM time OpenTPM spent getting the KEK: SRK creation
// plus load and unseal (plus sealing, when Created).
func (t *TPM) UnsealDuration() time.Duration { return t.unseal }

// PCRs returns the SHA-256 PCR indices the KEK is sealed to.
func (t *TPM) PCRs() []uint { return slices.Clone(t.pcrs) }

// Close wipes the KEK and closes the TPM connection. Seal and Open return
// ErrClosed afterwards. Close is idempotent.
func (t *TPM) Close() error {
	t.env.Wipe()
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tpm == nil {
		return nil
	}
	err := t.tpm.Close()
	t.tpm = nil
	if err != nil {
		return fmt.Errorf("sealing: close TPM: %w", err)
	}
	return nil
}

// Seal encrypts plaintext under the node KEK bound to b; see Envelope.Seal.
func (t *TPM) Seal(ctx context.Context, b Binding, plaintext []byte) ([]byte, error) {
	return t.env.Seal(ctx, b, plaintext)
}

// Open decrypts a blob sealed under the node KEK for b; see Envelope.Open.
func (t *TPM) Open(ctx context.Context, b Binding, blob []byte) ([]byte, error) {
	return t.env.Open(ctx, b, blob)
}
