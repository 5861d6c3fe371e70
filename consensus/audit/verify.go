package audit

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
)

// ErrChainBroken is wrapped by every VerifyError.
var ErrChainBroken = errors.New("audit chain does not verify")

// VerifyError names the first record that breaks the chain.
type VerifyError struct {
	Line    int    // 1-based position in the input; 0 when unknown
	Seq     uint64 // the record's seq as written; 0 when it could not be read
	Problem string
}

func (e *VerifyError) Error() string {
	switch {
	case e.Seq != 0 && e.Line != 0:
		return fmt.Sprintf("audit: record seq %d (line %d): %s", e.Seq, e.Line, e.Problem)
	case e.Line != 0:
		return fmt.Sprintf("audit: line %d: %s", e.Line, e.Problem)
	default:
		return fmt.Sprintf("audit: record seq %d: %s", e.Seq, e.Problem)
	}
}

func (e *VerifyError) Unwrap() error { return ErrChainBroken }

// Report summarises a chain that verified.
type Report struct {
	Records     uint64 `json:"records"`
	FirstSeq    uint64 `json:"first_seq"`
	LastSeq     uint64 `json:"last_seq"`
	Head        string `json:"head"`
	Checkpoints uint64 `json:"checkpoints"`
	// LastCheckpointSeq is the newest seq a valid checkpoint signature
	// covers; records after it are linked but not yet signed.
	LastCheckpointSeq uint64 `json:"last_checkpoint_seq"`
	// SignaturesChecked is false when no public key was given.
	SignaturesChecked bool `json:"signatures_checked"`
}

// hashWindow is how many recent record hashes a Verifier remembers to match
// checkpoints against; a checkpoint signs a head a few records back.
const hashWindow = 1 << 16

// Verifier checks records one at a time, in file order, holding only a
// bounded window of hashes. It is not safe for concurrent use.
type Verifier struct {
	pub     ed25519.PublicKey
	partial bool

	rep    Report
	line   int
	prev   *Record
	hashes map[uint64]string // seq -> hash, the last hashWindow records
	err    error
}

// NewVerifier returns a verifier. With pub nil, checkpoint signatures are
// not checked (Report.SignaturesChecked is false). With partial false the
// first record must be seq 1 with the genesis prev_hash; with partial true
// the chain may start anywhere (an export from a given seq, or a node that
// joined from a snapshot), and the first record's prev_hash is taken on
// trust.
func NewVerifier(pub ed25519.PublicKey, partial bool) *Verifier {
	return &Verifier{pub: pub, partial: partial, hashes: map[uint64]string{}, rep: Report{SignaturesChecked: pub != nil}}
}

// Bad records a record that could not be read at the next line, so the
// error names the line.
func (v *Verifier) Bad(problem string) error {
	if v.err != nil {
		return v.err
	}
	v.line++
	v.err = &VerifyError{Line: v.line, Problem: problem}
	return v.err
}

// Add checks the next record. The first error is sticky: once the chain
// broke, later records are not judged.
func (v *Verifier) Add(r *Record) error {
	if v.err != nil {
		return v.err
	}
	v.line++
	fail := func(format string, args ...any) error {
		v.err = &VerifyError{Line: v.line, Seq: r.Seq, Problem: fmt.Sprintf(format, args...)}
		return v.err
	}
	if r.Seq == 0 {
		return fail("seq 0 is not a valid seq")
	}
	if p := v.prev; p != nil {
		switch {
		case r.Seq == p.Seq:
			return fail("repeats seq %d", p.Seq)
		case r.Seq != p.Seq+1:
			return fail("follows seq %d: expected seq %d (records missing or out of order)", p.Seq, p.Seq+1)
		case r.PrevHash != p.Hash:
			return fail("prev_hash %s is not the hash of seq %d (%s)", short(r.PrevHash), p.Seq, short(p.Hash))
		}
	} else if !v.partial {
		switch {
		case r.Seq != 1:
			return fail("the chain must start at seq 1 (records missing or out of order)")
		case r.PrevHash != GenesisHash:
			return fail("prev_hash of seq 1 must be the genesis hash")
		}
	}
	if got := Hash(r); got != r.Hash {
		return fail("hash %s does not match its content (%s): the record was altered", short(r.Hash), short(got))
	}
	if c := r.Checkpoint; c != nil {
		if err := v.checkpoint(r.Seq, c); err != nil {
			return fail("checkpoint: %v", err)
		}
	}
	if v.rep.Records == 0 {
		v.rep.FirstSeq = r.Seq
	}
	v.rep.Records++
	v.rep.LastSeq, v.rep.Head = r.Seq, r.Hash
	v.hashes[r.Seq] = r.Hash
	delete(v.hashes, r.Seq-hashWindow)
	cp := *r
	v.prev = &cp
	return nil
}

func (v *Verifier) checkpoint(seq uint64, c *Checkpoint) error {
	want, known := v.hashes[c.Seq]
	before := v.partial && (v.rep.Records == 0 || c.Seq < v.rep.FirstSeq) // signed before this export starts
	switch {
	case c.Seq >= seq:
		return fmt.Errorf("signs seq %d, which is not an earlier record", c.Seq)
	case known && want != c.Head:
		return fmt.Errorf("signs head %s for seq %d, but seq %d hashes to %s", short(c.Head), c.Seq, c.Seq, short(want))
	case !known && !before:
		return fmt.Errorf("signs seq %d, which is too far back to match", c.Seq)
	}
	if v.pub != nil {
		if len(v.pub) != ed25519.PublicKeySize {
			return fmt.Errorf("the audit public key has %d bytes, want %d", len(v.pub), ed25519.PublicKeySize)
		}
		sig, err := hex.DecodeString(c.Signature)
		if err != nil || !ed25519.Verify(v.pub, CheckpointMessage(c.Seq, c.Head), sig) {
			return fmt.Errorf("signature over seq %d does not verify under the audit key", c.Seq)
		}
		v.rep.LastCheckpointSeq = max(v.rep.LastCheckpointSeq, c.Seq)
	}
	v.rep.Checkpoints++
	return nil
}

// Finish returns the report, or the first error.
func (v *Verifier) Finish() (Report, error) {
	if v.err != nil {
		return Report{}, v.err
	}
	if v.rep.Records == 0 {
		return Report{}, fmt.Errorf("audit: %w: no records", ErrChainBroken)
	}
	return v.rep, nil
}

// Verify checks records in order; see NewVerifier for pub and partial.
func Verify(records []Record, pub ed25519.PublicKey, partial bool) (Report, error) {
	v := NewVerifier(pub, partial)
	for i := range records {
		if err := v.Add(&records[i]); err != nil {
			return Report{}, err
		}
	}
	return v.Finish()
}

func short(h string) string {
	if len(h) > 12 {
		return h[:12] + "..."
	}
	return h
}
