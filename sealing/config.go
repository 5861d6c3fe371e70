package sealing

import (
	"fmt"
	"net"
	"slices"
	"strconv"
)

// Backends for Config.Backend.
const (
	BackendSimulator = "simulator" // embedded go-tpm-tools simulator; insecure, for dev and tests
	BackendSWTPM     = "swtpm"     // swtpm over TCP at Config.Address; for integration tests
	BackendDevice    = "device"    // a kernel TPM device at Config.Device; production
)

// maxPCRs keeps the selection within one TPM2_PCR_Read (8 digests).
const maxPCRs = 8

// Config selects the TPM backend and where the node's sealing state lives.
// Start from DefaultConfig.
type Config struct {
	// Backend is BackendSimulator, BackendSWTPM or BackendDevice.
	Backend string
	// Address is the swtpm command server "host:port"; the control server is
	// expected on port+1. Used by BackendSWTPM only.
	Address string
	// Device is the TPM device path for BackendDevice, normally the kernel
	// resource manager /dev/tpmrm0.
	Device string
	// Dir is the node's sealing directory: kek.sealed, kek.auth and
	// simulator.seed live here. Created with mode 0700 if missing.
	Dir string
	// PCRs are the SHA-256 PCR indices the KEK is sealed to (1 to 8 of them,
	// 0..23). The default, 16, is resettable and fit for development only;
	// production should use measured-boot PCRs such as 7.
	PCRs []int
	// AuthFile, when set, names a file whose content (at least 16 bytes)
	// derives the KEK's auth value; supply it from a secret store. When
	// empty, a random value is generated once into Dir/kek.auth.
	AuthFile string
	_        struct{} // disallow positional literals, for extensibility
}

// DefaultConfig returns the development configuration: the embedded
// simulator, PCR 16, and an auth value generated into dir.
func DefaultConfig(dir string) Config {
	return Config{
		Backend: BackendSimulator,
		Address: "127.0.0.1:2321",
		Device:  "/dev/tpmrm0",
		Dir:     dir,
		PCRs:    []int{16},
	}
}

// Validate reports ErrInvalidConfig for an unknown backend, a missing
// address or device for the chosen backend, an empty Dir, or a PCR list that
// is empty, too long, out of range or has duplicates.
func (c Config) Validate() error {
	switch c.Backend {
	case BackendSimulator:
	case BackendSWTPM:
		if _, err := platformAddress(c.Address); err != nil {
			return fmt.Errorf("%w: swtpm address %q: %v", ErrInvalidConfig, c.Address, err)
		}
	case BackendDevice:
		if c.Device == "" {
			return fmt.Errorf("%w: device backend without device path", ErrInvalidConfig)
		}
	default:
		return fmt.Errorf("%w: unknown backend %q", ErrInvalidConfig, c.Backend)
	}
	if c.Dir == "" {
		return fmt.Errorf("%w: empty dir", ErrInvalidConfig)
	}
	if len(c.PCRs) == 0 || len(c.PCRs) > maxPCRs {
		return fmt.Errorf("%w: %d PCRs, want 1 to %d", ErrInvalidConfig, len(c.PCRs), maxPCRs)
	}
	seen := map[int]bool{}
	for _, p := range c.PCRs {
		if p < 0 || p > 23 {
			return fmt.Errorf("%w: PCR %d out of range 0..23", ErrInvalidConfig, p)
		}
		if seen[p] {
			return fmt.Errorf("%w: PCR %d listed twice", ErrInvalidConfig, p)
		}
		seen[p] = true
	}
	return nil
}

// sortedPCRs returns the PCR list in ascending order, the order in which the
// TPM hashes PCR values into the policy.
func (c Config) sortedPCRs() []uint {
	out := make([]uint, 0, len(c.PCRs))
	for _, p := range c.PCRs {
		out = append(out, uint(p))
	}
	slices.Sort(out)
	return out
}

// platformAddress derives swtpm's control address (port+1) from the command
// address.
func platformAddress(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", err
	}
	p, err := strconv.Atoi(port)
	if err != nil || p <= 0 || p >= 65535 {
		return "", fmt.Errorf("bad port %q", port)
	}
	return net.JoinHostPort(host, strconv.Itoa(p+1)), nil
}
