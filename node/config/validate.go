package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// MaxPresignPool bounds presign.pool: every parked presignature holds a
// signing session (about 100 KiB) on each committee member.
const MaxPresignPool = 32

// Bounds of audit.checkpoint_every: a checkpoint appends a few records of
// its own (the signing request, the members' reports, the checkpoint), so
// a smaller interval would checkpoint its own checkpoints forever; a larger
// one would outrun the records the replicated state keeps to check a head.
const (
	MinAuditCheckpointEvery = 16
	MaxAuditCheckpointEvery = 2048
)

// MaxSignAttempts bounds sign.max_attempts.
const MaxSignAttempts = 10

// Validate checks every field and the relations between them: unique node
// ids and addresses, 1 <= threshold < number of nodes, and what the chosen
// TPM backend and pre-params source need. It reports every problem, joined
// with errors.Join; each is a *FieldError wrapping ErrInvalid, with a line
// when the cluster came from a file.
func (c *Cluster) Validate() error {
	v := &validator{c: c}
	if !ValidClusterID(c.ID) {
		v.fail("cluster_id", "%q must be 1 to 63 of a-z, 0-9, '.', '_', '-', starting with a letter or digit", c.ID)
	}
	if c.DataDir == "" {
		v.fail("data_dir", "must not be empty")
	}
	v.nodes()
	n := len(c.Nodes)
	if n < 2 {
		v.fail("nodes", "a cluster needs at least 2 nodes, got %d", n)
	} else if c.Threshold < 1 || c.Threshold >= n {
		v.fail("threshold", "%d is outside [1, %d]: any threshold+1 of the %d nodes sign", c.Threshold, n-1, n)
	}
	v.tpm()
	v.mode()
	switch c.Preparams.Source {
	case PreparamsGenerate:
	case PreparamsFixtures:
		if c.Preparams.FixturesDir == "" {
			v.fail("preparams.fixtures_dir", "required when preparams.source is fixtures")
		}
	default:
		v.fail("preparams.source", "%q is not one of generate, fixtures", c.Preparams.Source)
	}
	if c.Sign.Timeout <= 0 {
		v.fail("sign.timeout", "%v must be positive", c.Sign.Timeout)
	}
	if c.Sign.MaxAttempts < 1 || c.Sign.MaxAttempts > MaxSignAttempts {
		v.fail("sign.max_attempts", "%d is outside [1, %d]", c.Sign.MaxAttempts, MaxSignAttempts)
	}
	if c.Sign.Ed25519 != SignerFROST && c.Sign.Ed25519 != SignerTSSLib {
		v.fail("sign.ed25519", "%q is neither %q nor %q", c.Sign.Ed25519, SignerFROST, SignerTSSLib)
	}
	if c.Sign.FrostPool < 0 || c.Sign.FrostPool > MaxFrostPool {
		v.fail("sign.frost_pool", "%d is outside [0, %d]", c.Sign.FrostPool, MaxFrostPool)
	}
	if c.Presign.Pool < 0 || c.Presign.Pool > MaxPresignPool {
		v.fail("presign.pool", "%d is outside [0, %d]", c.Presign.Pool, MaxPresignPool)
	}
	if c.Presign.TTL < time.Second {
		v.fail("presign.ttl", "%v must be at least 1s", c.Presign.TTL)
	}
	if e := c.Audit.CheckpointEvery; e < MinAuditCheckpointEvery || e > MaxAuditCheckpointEvery {
		v.fail("audit.checkpoint_every", "%d is outside [%d, %d]", e, MinAuditCheckpointEvery, MaxAuditCheckpointEvery)
	}
	if w := c.Audit.DenialWindow; w < 100*time.Millisecond || w > time.Hour {
		v.fail("audit.denial_window", "%v is outside [100ms, 1h]", w)
	}
	if w := c.Lifecycle.DualSignWindow; w < 0 || w > 30*24*time.Hour {
		v.fail("lifecycle.dual_sign_window", "%v is outside [0, 720h]", w)
	}
	if p := c.Lifecycle.DestroyPending; p < time.Second {
		v.fail("lifecycle.destroy_pending", "%v must be at least 1s", p)
	}
	if a := c.Lifecycle.DedupAge; a < time.Minute {
		v.fail("lifecycle.dedup_age", "%v must be at least 1m", a)
	}
	if t := c.Handles.MaxTTL; t < time.Second || t > 365*24*time.Hour {
		v.fail("handles.max_ttl", "%v is outside [1s, 8760h]", t)
	}
	if o := c.Clock.MaxOffset; o < 10*time.Millisecond || o > time.Minute {
		v.fail("clock.max_offset", "%v is outside [10ms, 1m]", o)
	}
	return errors.Join(v.errs...)
}

type validator struct {
	c    *Cluster
	errs []error
}

// fail records a problem at path, located at the line of the field or, when
// the field is absent, of its closest enclosing one.
func (v *validator) fail(path, format string, args ...any) {
	line := 0
	for p := path; v.c.pos != nil; {
		if l, ok := v.c.pos[p]; ok {
			line = l
			break
		}
		i := strings.LastIndexAny(p, ".[")
		if i < 0 {
			if p == "" {
				break
			}
			p = ""
			continue
		}
		p = p[:i]
	}
	v.errs = append(v.errs, &FieldError{File: v.c.file, Line: line, Field: path, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) tpm() {
	t := v.c.TPM
	switch t.Backend {
	case BackendSimulator, BackendSwtpm:
	case BackendDevice:
		if t.Device == "" {
			v.fail("tpm.device", "required when tpm.backend is device")
		}
	default:
		v.fail("tpm.backend", "%q is not one of simulator, swtpm, device", t.Backend)
	}
	seen := make(map[int]bool, len(t.PCRs))
	for i, pcr := range t.PCRs {
		p := fmt.Sprintf("tpm.pcrs[%d]", i)
		switch {
		case pcr < 0 || pcr > 23:
			v.fail(p, "PCR %d is outside [0, 23]", pcr)
		case seen[pcr]:
			v.fail(p, "PCR %d listed twice", pcr)
		}
		seen[pcr] = true
	}
}

func (v *validator) nodes() {
	ids := make(map[string]string)   // id -> path of its first use
	addrs := make(map[string]string) // host:port -> path of its first use
	claim := func(path, addr string) {
		if first, ok := addrs[addr]; ok {
			v.fail(path, "address %q is already used by %s", addr, first)
			return
		}
		addrs[addr] = path
	}
	for i, n := range v.c.Nodes {
		p := fmt.Sprintf("nodes[%d]", i)
		switch {
		case !ValidNodeID(n.ID):
			v.fail(p+".id", "%q must be 1 to 32 of a-z, 0-9, '-', starting with a letter or digit", n.ID)
		case ids[n.ID] != "":
			v.fail(p+".id", "%q is already the id of %s", n.ID, ids[n.ID])
		default:
			ids[n.ID] = p
		}
		for _, f := range []struct{ name, addr string }{{"raft", n.Raft}, {"peer", n.Peer}, {"client", n.Client}} {
			fp := p + "." + f.name
			if norm, ok := v.address(fp, f.addr); ok {
				claim(fp, norm)
			}
		}
		for _, from := range slices.Sorted(maps.Keys(n.Via)) {
			fp := p + ".via[" + from + "]"
			v.address(fp, from)
			v.address(fp, n.Via[from])
		}
		if v.c.TPM.Backend != BackendSwtpm {
			continue
		}
		fp := p + ".tpm_address"
		if n.TPMAddress == "" {
			v.fail(fp, "required when tpm.backend is swtpm")
			continue
		}
		norm, ok := v.address(fp, n.TPMAddress)
		if !ok {
			continue
		}
		host, port, _ := net.SplitHostPort(norm)
		pn, _ := strconv.Atoi(port)
		if pn == 65535 {
			v.fail(fp, "port %d leaves no room for the control port above it", pn)
			continue
		}
		claim(fp, norm)
		claim(fp+" (control port)", net.JoinHostPort(host, strconv.Itoa(pn+1)))
	}
}

// address checks that s is host:port with a non-empty host and a port in
// [1, 65535], and returns it normalised.
func (v *validator) address(path, s string) (string, bool) {
	if s == "" {
		v.fail(path, "address is required")
		return "", false
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		if !strings.Contains(s, ":") || strings.Count(s, ":") > 1 && !strings.HasPrefix(s, "[") {
			v.fail(path, "address %q lacks a port", s)
		} else {
			v.fail(path, "address %q is not host:port", s)
		}
		return "", false
	}
	if host == "" {
		v.fail(path, "address %q lacks a host", s)
		return "", false
	}
	if strings.ContainsAny(host, " /\t") {
		v.fail(path, "address %q has an invalid host", s)
		return "", false
	}
	pn, err := strconv.Atoi(port)
	if err != nil || pn < 1 || pn > 65535 {
		v.fail(path, "address %q has an invalid port", s)
		return "", false
	}
	return net.JoinHostPort(host, strconv.Itoa(pn)), true
}

// ValidClusterID reports whether id matches ^[a-z0-9][a-z0-9._-]{0,62}$.
// The cluster id becomes the trust domain of the URIs in the cluster's
// certificates, so it keeps to what a URI host accepts.
func ValidClusterID(id string) bool { return validName(id, 63, "._-") }

// ValidNodeID reports whether id matches ^[a-z0-9][a-z0-9-]{0,31}$.
func ValidNodeID(id string) bool { return validName(id, 32, "-") }

func validName(s string, maxLen int, punct string) bool {
	if s == "" || len(s) > maxLen {
		return false
	}
	for i, r := range s {
		alnum := r >= 'a' && r <= 'z' || r >= '0' && r <= '9'
		if !alnum && (i == 0 || !strings.ContainsRune(punct, r)) {
			return false
		}
	}
	return true
}

// mode checks the cluster mode, and in production refuses what is only fit
// for development, naming each setting.
func (v *validator) mode() {
	c := v.c
	switch c.Mode {
	case ModeDev:
	case ModeProduction:
		if c.TPM.Backend == BackendSimulator {
			v.fail("tpm.backend", "simulator is refused in mode production: its sealed keys are protected by nothing")
		}
		if c.Preparams.Source == PreparamsFixtures {
			v.fail("preparams.source", "fixtures is refused in mode production: the fixture pre-params are public")
		}
		for _, p := range c.TPM.PCRs {
			if ResettablePCR(p) {
				v.fail("tpm.pcrs", "PCR %d is refused in mode production: any process can reset it", p)
			}
		}
	default:
		v.fail("mode", "%q is not one of dev, production", c.Mode)
	}
}
