package tss

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

// preParamsVersion is the version of the PreParams encoding.
const preParamsVersion = 1

// preParamsProgressEvery is how often GeneratePreParams reports progress.
const preParamsProgressEvery = 5 * time.Second

// PreParams are one member's ECDSA keygen pre-parameters: a Paillier key
// pair and the safe-prime based ring-Pedersen parameters. They are secret
// (they contain the Paillier private key), become part of the ECDSA share,
// and must be used for one keygen only. String and Format redact.
type PreParams struct {
	p keygen.LocalPreParams
}

// preParamsFile is the stored encoding of PreParams.
type preParamsFile struct {
	Version int                   `json:"version"`
	Pre     keygen.LocalPreParams `json:"pre"`
}

// GeneratePreParams generates fresh pre-parameters. It is slow and random in
// time (seconds to tens of seconds of CPU); progress, if not nil, is called
// periodically from a separate goroutine with the elapsed time so the caller
// can log it. It returns ctx.Err() wrapped if ctx ends first.
func GeneratePreParams(ctx context.Context, progress func(elapsed time.Duration)) (*PreParams, error) {
	start := time.Now()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if progress != nil {
		done := make(chan struct{})
		defer close(done)
		go func() {
			t := time.NewTicker(preParamsProgressEvery)
			defer t.Stop()
			for {
				select {
				case <-done:
					return
				case <-ctx.Done():
					return
				case <-t.C:
					progress(time.Since(start))
				}
			}
		}()
	}
	lp, err := keygen.GeneratePreParamsWithContext(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tss: generate pre-params: %w", ctx.Err())
		}
		return nil, fmt.Errorf("tss: generate pre-params: %w", err)
	}
	pp := &PreParams{p: *lp}
	if err := pp.Validate(); err != nil {
		return nil, err
	}
	return pp, nil
}

// Validate reports an error unless every field needed for keygen, including
// the fields for the proofs (P, Q, Alpha, Beta), is present.
func (pp *PreParams) Validate() error {
	if pp == nil || !pp.p.ValidateWithProof() {
		return errors.New("tss: pre-params incomplete")
	}
	if pp.p.PaillierSK.N == nil || pp.p.PaillierSK.N.Sign() <= 0 || pp.p.NTildei.Sign() <= 0 {
		return errors.New("tss: pre-params incomplete")
	}
	return nil
}

// MarshalBinary encodes the pre-parameters. The bytes are secret.
func (pp *PreParams) MarshalBinary() ([]byte, error) {
	if err := pp.Validate(); err != nil {
		return nil, err
	}
	return json.Marshal(preParamsFile{Version: preParamsVersion, Pre: pp.p})
}

// UnmarshalPreParams decodes and validates bytes from MarshalBinary.
func UnmarshalPreParams(b []byte) (*PreParams, error) {
	var f preParamsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, errors.New("tss: decode pre-params: malformed")
	}
	if f.Version != preParamsVersion {
		return nil, fmt.Errorf("tss: decode pre-params: unknown version %d", f.Version)
	}
	pp := &PreParams{p: f.Pre}
	if err := pp.Validate(); err != nil {
		return nil, err
	}
	return pp, nil
}

// LoadPreParamsFile reads pre-parameters written by MarshalBinary, such as the
// test-only fixtures under testdata/preparams. Never use fixtures in production:
// they are public.
func LoadPreParamsFile(path string) (*PreParams, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("tss: load pre-params: %w", err)
	}
	return UnmarshalPreParams(b)
}

// String redacts: pre-parameters are secret.
func (pp *PreParams) String() string { return "tss.PreParams{REDACTED}" }

// GoString redacts: pre-parameters are secret.
func (pp *PreParams) GoString() string { return pp.String() }

// Format redacts for every verb, so %v, %+v, %#v and %x print no secret.
func (pp *PreParams) Format(f fmt.State, _ rune) { _, _ = f.Write([]byte(pp.String())) }
