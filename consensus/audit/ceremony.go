package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Operator quorum ceremonies leave their evidence in the chain: the
// proposal names everything the approvers sign (through its digest) and
// the approver group with their public keys; each approval carries the
// operator's signature. With this package alone, anyone holding an export
// can recompute every digest, check every signature and count the quorum
// (VerifyCeremony), without trusting the cluster that wrote it.

// Operations of ceremony records.
const (
	OpCeremonyPropose = "ceremony_propose"
	OpCeremonyApprove = "ceremony_approve"
	OpCeremonyCancel  = "ceremony_cancel"
)

// Ceremony states as records carry them.
const (
	CeremonyPending   = "pending"
	CeremonyExecuted  = "executed"
	CeremonyFailed    = "failed"
	CeremonyExpired   = "expired"
	CeremonyCancelled = "cancelled"
)

// Ceremony is the evidence of one ceremony event. A proposal fills the
// header (everything up to Approvers); an approval fills ID, Digest and
// the approval (Operator, PublicKey, Signature); every event says the
// ceremony's State and how many approvals Counted after it.
type Ceremony struct {
	ID             string     `json:"id"`
	Kind           string     `json:"kind,omitempty"`
	Cluster        string     `json:"cluster,omitempty"`
	Nonce          string     `json:"nonce,omitempty"`
	ParamsSHA256   string     `json:"params_sha256,omitempty"`
	ExpiresAt      int64      `json:"expires_at,omitempty"`
	Digest         string     `json:"digest"`
	Quorum         uint32     `json:"quorum,omitempty"`
	Proposer       string     `json:"proposer,omitempty"`
	ProposerCounts bool       `json:"proposer_counts,omitempty"`
	Approvers      []Approver `json:"approvers,omitempty"`
	Operator       string     `json:"operator,omitempty"`
	PublicKey      string     `json:"public_key,omitempty"`
	Signature      string     `json:"signature,omitempty"` // hex Ed25519 signature over the digest
	State          string     `json:"state"`
	Counted        uint32     `json:"counted"`
}

// Approver is one operator allowed to approve a ceremony.
type Approver struct {
	Name      string `json:"name"`
	PublicKey string `json:"public_key"`
}

// appendHash appends c's canonical encoding to b, in the style of Hash.
func (c *Ceremony) appendHash(b []byte) []byte {
	str := func(s string) { b = binary.BigEndian.AppendUint32(b, uint32(len(s))); b = append(b, s...) }
	str(c.ID)
	str(c.Kind)
	str(c.Cluster)
	str(c.Nonce)
	str(c.ParamsSHA256)
	b = binary.BigEndian.AppendUint64(b, uint64(c.ExpiresAt))
	str(c.Digest)
	b = binary.BigEndian.AppendUint32(b, c.Quorum)
	str(c.Proposer)
	b = append(b, boolByte(c.ProposerCounts))
	b = binary.BigEndian.AppendUint32(b, uint32(len(c.Approvers)))
	for _, a := range c.Approvers {
		str(a.Name)
		str(a.PublicKey)
	}
	str(c.Operator)
	str(c.PublicKey)
	str(c.Signature)
	str(c.State)
	return binary.BigEndian.AppendUint32(b, c.Counted)
}

func boolByte(v bool) byte {
	if v {
		return 1
	}
	return 0
}

// ceremonyTag domain-separates ceremony digests from every other hash and
// signature in keyquorum, and versions their encoding.
const ceremonyTag = "keyquorum/ceremony/approve/v1"

// CeremonyDigest is what every approver signs: the SHA-256 of the tag,
// then cluster, ceremony id, nonce, kind and the params' SHA-256 (hex) as
// 4-byte big-endian lengths and their bytes, then expiresAt as 8
// big-endian bytes. The params enter through their hash, so the export
// stays small while binding every byte of them.
func CeremonyDigest(cluster, id, nonce, kind, paramsSHA256 string, expiresAt int64) [32]byte {
	var b []byte
	for _, s := range []string{ceremonyTag, cluster, id, nonce, kind, paramsSHA256} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	b = binary.BigEndian.AppendUint64(b, uint64(expiresAt))
	return sha256.Sum256(b)
}

// approvalKeyPrefix starts the text form of an Ed25519 approval key.
const approvalKeyPrefix = "ed25519:"

// FormatApprovalKey returns the text form of an approval public key, as
// `kq operator keygen` prints it and the policy lists it.
func FormatApprovalKey(pub ed25519.PublicKey) string {
	return approvalKeyPrefix + base64.StdEncoding.EncodeToString(pub)
}

// ParseApprovalKey reads the text form of an approval public key.
func ParseApprovalKey(s string) (ed25519.PublicKey, error) {
	rest, ok := strings.CutPrefix(s, approvalKeyPrefix)
	if !ok {
		return nil, fmt.Errorf("approval key %.20q: want %s<base64 of 32 bytes>", s, approvalKeyPrefix)
	}
	raw, err := base64.StdEncoding.Strict().DecodeString(rest)
	if err != nil || len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("approval key %.20q: not %d bytes of base64", s, ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// VerifyApproval reports whether sigHex is pub's (text form) Ed25519
// signature over the digest (hex).
func VerifyApproval(pub, digestHex, sigHex string) bool {
	key, err := ParseApprovalKey(pub)
	if err != nil {
		return false
	}
	d, err := hex.DecodeString(digestHex)
	if err != nil || len(d) != sha256.Size {
		return false
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != ed25519.SignatureSize {
		return false
	}
	return ed25519.Verify(key, d, sig)
}

// ErrCeremonyEvidence is wrapped by every refusal of VerifyCeremony.
var ErrCeremonyEvidence = errors.New("ceremony evidence does not verify")

// CeremonyReport is what VerifyCeremony found.
type CeremonyReport struct {
	ID       string `json:"id"`
	Kind     string `json:"kind"`
	Digest   string `json:"digest"`
	Quorum   uint32 `json:"quorum"`
	Proposer string `json:"proposer"`
	// Approvals lists every accepted approval, its signature checked.
	Approvals []VerifiedApproval `json:"approvals"`
	Counted   uint32             `json:"counted"`
	State     string             `json:"state"`
	// ExecutedSeq is the record of the approval that executed it.
	ExecutedSeq uint64 `json:"executed_seq,omitempty"`
}

// VerifiedApproval is one approval whose signature verified.
type VerifiedApproval struct {
	Operator string `json:"operator"`
	Seq      uint64 `json:"seq"`
	Counted  bool   `json:"counted"`
}

// VerifyCeremony checks ceremony id from records alone: the proposal's
// digest is recomputed from its fields, every accepted approval's key is
// the named operator's in the proposal's approver group and its signature
// verifies over the digest, no operator counts twice, the proposer counts
// only when the proposal says so, and the ceremony executed exactly when
// the count reached the quorum, before it expired. The chain's links are
// checked apart (Verify); this checks what the links hold.
func VerifyCeremony(recs []Record, id string) (CeremonyReport, error) {
	bad := func(seq uint64, format string, args ...any) error {
		return fmt.Errorf("%w: ceremony %s: record seq %d: %s", ErrCeremonyEvidence, id, seq, fmt.Sprintf(format, args...))
	}
	var (
		rep   CeremonyReport
		prop  *Ceremony
		keys  map[string]string
		seen  = map[string]bool{}
		ended bool
	)
	for i := range recs {
		r := &recs[i]
		c := r.Ceremony
		if c == nil || c.ID != id || r.Outcome == OutcomeDenied || r.Outcome == OutcomeDuplicate {
			continue
		}
		switch r.Op {
		case OpCeremonyPropose:
			if prop != nil {
				return rep, bad(r.Seq, "proposed twice")
			}
			prop = c
			want := CeremonyDigest(c.Cluster, c.ID, c.Nonce, c.Kind, c.ParamsSHA256, c.ExpiresAt)
			if hex.EncodeToString(want[:]) != c.Digest {
				return rep, bad(r.Seq, "digest %s is not the digest of the proposal's fields (%x)", c.Digest, want)
			}
			keys = map[string]string{}
			for _, a := range c.Approvers {
				keys[a.Name] = a.PublicKey
			}
			rep = CeremonyReport{ID: id, Kind: c.Kind, Digest: c.Digest, Quorum: c.Quorum, Proposer: c.Proposer, State: c.State, Approvals: []VerifiedApproval{}}
		case OpCeremonyApprove:
			switch {
			case prop == nil:
				return rep, bad(r.Seq, "an approval before the proposal")
			case ended:
				return rep, bad(r.Seq, "an approval after the ceremony ended (%s)", rep.State)
			case c.Digest != prop.Digest:
				return rep, bad(r.Seq, "approval of digest %s, the proposal's is %s", c.Digest, prop.Digest)
			case keys[c.Operator] == "" || keys[c.Operator] != c.PublicKey:
				return rep, bad(r.Seq, "%s with key %s is not in the approver group", c.Operator, c.PublicKey)
			case !VerifyApproval(c.PublicKey, c.Digest, c.Signature):
				return rep, bad(r.Seq, "%s's signature does not verify over the digest", c.Operator)
			case seen[c.Operator]:
				return rep, bad(r.Seq, "%s approved twice", c.Operator)
			case r.Time >= prop.ExpiresAt:
				return rep, bad(r.Seq, "approval at %d, after the ceremony expired at %d", r.Time, prop.ExpiresAt)
			}
			seen[c.Operator] = true
			counted := c.Operator != prop.Proposer || prop.ProposerCounts
			if counted {
				rep.Counted++
			}
			rep.Approvals = append(rep.Approvals, VerifiedApproval{Operator: c.Operator, Seq: r.Seq, Counted: counted})
			if c.Counted != rep.Counted {
				return rep, bad(r.Seq, "the record counts %d approvals, the signatures %d", c.Counted, rep.Counted)
			}
			reached := rep.Counted >= prop.Quorum
			switch {
			case c.State == CeremonyPending && reached:
				return rep, bad(r.Seq, "quorum %d reached but the ceremony did not end", prop.Quorum)
			case (c.State == CeremonyExecuted || c.State == CeremonyFailed) && !reached:
				return rep, bad(r.Seq, "%s with %d valid approvals, below the quorum %d", c.State, rep.Counted, prop.Quorum)
			case c.State != CeremonyPending && c.State != CeremonyExecuted && c.State != CeremonyFailed:
				return rep, bad(r.Seq, "an approval leaves state %q", c.State)
			}
			rep.State = c.State
			if c.State == CeremonyExecuted {
				rep.ExecutedSeq = r.Seq
			}
			ended = c.State != CeremonyPending
		case OpCeremonyCancel:
			if prop == nil || ended {
				return rep, bad(r.Seq, "a cancel of no pending ceremony")
			}
			rep.State, ended = c.State, true
		}
	}
	if prop == nil {
		return rep, fmt.Errorf("%w: ceremony %s: no proposal in these records", ErrCeremonyEvidence, id)
	}
	return rep, nil
}
