package sealing

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"path/filepath"

	"github.com/google/go-tpm-tools/simulator"
	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
	"github.com/google/go-tpm/tpm2/transport/linuxtpm"
	"github.com/google/go-tpm/tpm2/transport/tcp"
)

const simulatorSeedFile = "simulator.seed"

// openTransport connects to the configured backend.
func openTransport(ctx context.Context, cfg Config, log *slog.Logger) (transport.TPMCloser, error) {
	switch cfg.Backend {
	case BackendSimulator:
		return openSimulator(ctx, cfg.Dir, log)
	case BackendSWTPM:
		plat, err := platformAddress(cfg.Address)
		if err != nil {
			return nil, fmt.Errorf("%w: swtpm address: %v", ErrInvalidConfig, err)
		}
		// No PowerOn: swtpm runs with not-need-init,startup-clear and a
		// PowerOn would reset it.
		t, err := tcp.Open(tcp.Config{CommandAddress: cfg.Address, PlatformAddress: plat})
		if err != nil {
			return nil, fmt.Errorf("sealing: connect to swtpm at %s: %w", cfg.Address, err)
		}
		return t, nil
	case BackendDevice:
		t, err := linuxtpm.Open(cfg.Device)
		if err != nil {
			return nil, fmt.Errorf("sealing: open TPM device %s: %w", cfg.Device, err)
		}
		return t, nil
	}
	return nil, fmt.Errorf("%w: unknown backend %q", ErrInvalidConfig, cfg.Backend)
}

// openSimulator starts the embedded simulator with hierarchy seeds derived
// from dir/simulator.seed (created on first use), so the same SRK comes back
// after a restart. The library allows one simulator per process and blocks a
// second Get until the first is closed, so the wait honours ctx; a simulator
// obtained after ctx ended is closed again.
func openSimulator(ctx context.Context, dir string, log *slog.Logger) (transport.TPMCloser, error) {
	seed, err := simulatorSeed(filepath.Join(dir, simulatorSeedFile))
	if err != nil {
		return nil, err
	}
	log.Warn("sealing: using the embedded TPM simulator; it is NOT a security boundary: "+
		"its seed is on disk and anyone who reads the data dir can unseal the node's secrets",
		"seed_file", filepath.Join(dir, simulatorSeedFile))
	type result struct {
		sim *simulator.Simulator
		err error
	}
	ch := make(chan result, 1)
	go func() {
		s, err := simulator.GetWithFixedSeedInsecure(seed)
		ch <- result{s, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("sealing: start simulator: %w", r.err)
		}
		return transport.FromReadWriteCloser(r.sim), nil
	case <-ctx.Done():
		go func() {
			if r := <-ch; r.err == nil {
				_ = r.sim.Close()
			}
		}()
		return nil, fmt.Errorf("sealing: waiting for the simulator (one per process): %w", ctx.Err())
	}
}

// simulatorSeed reads the simulator seed, creating it on first use.
func simulatorSeed(path string) (int64, error) {
	b, err := ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		b = make([]byte, 8)
		if _, err := rand.Read(b); err != nil {
			return 0, fmt.Errorf("sealing: simulator seed: %w", err)
		}
		if err := WriteFile(path, b); err != nil {
			return 0, err
		}
	} else if err != nil {
		return 0, err
	}
	if len(b) != 8 {
		return 0, fmt.Errorf("sealing: simulator seed %s is %d bytes, want 8", path, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

// flushTransients flushes transient objects and loaded sessions left by an
// earlier client that died before flushing them. swtpm has three object
// slots and no resource manager, so leftovers would make CreatePrimary fail
// with TPM_RC_OBJECT_MEMORY. Under /dev/tpmrm0 the list is this client's own
// (empty).
func flushTransients(t transport.TPM, log *slog.Logger) error {
	// Transient objects, then loaded sessions (HMAC 0x02.. and policy 0x03..
	// handles are both listed from 0x02000000).
	for _, first := range []tpm2.TPMHandle{0x80000000, 0x02000000} {
		rsp, err := tpm2.GetCapability{
			Capability:    tpm2.TPMCapHandles,
			Property:      uint32(first),
			PropertyCount: 64,
		}.Execute(t)
		if err != nil {
			return fmt.Errorf("sealing: list handles from %#x: %w", uint32(first), err)
		}
		hs, err := rsp.CapabilityData.Data.Handles()
		if err != nil {
			return fmt.Errorf("sealing: list handles from %#x: %w", uint32(first), err)
		}
		for _, h := range hs.Handle {
			if ht := h >> 24; ht != first>>24 && !(first == 0x02000000 && ht == 0x03) {
				continue // the TPM lists handles of later types too
			}
			if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t); err != nil {
				return fmt.Errorf("sealing: flush leftover handle %#x: %w", uint32(h), err)
			}
			log.Info("sealing: flushed leftover TPM handle", "handle", fmt.Sprintf("%#x", uint32(h)))
		}
	}
	return nil
}

// flush releases a transient handle, logging (not failing) on error: the
// caller already has its result and a leftover is cleaned at next open.
func flush(t transport.TPM, h tpm2.TPMHandle, log *slog.Logger) {
	if _, err := (tpm2.FlushContext{FlushHandle: h}).Execute(t); err != nil {
		log.Warn("sealing: flush TPM handle", "handle", fmt.Sprintf("%#x", uint32(h)), "err", err)
	}
}
