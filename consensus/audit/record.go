package audit

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf8"
)

// Outcome says how an operation ended.
type Outcome string

// The outcomes a record may carry.
const (
	OutcomeOK        Outcome = "ok"        // applied and changed state as asked
	OutcomeDuplicate Outcome = "duplicate" // a repeat of an earlier request; the stored outcome stands
	OutcomeDenied    Outcome = "denied"    // refused: bad input, unknown key, conflict, bounds, authorization
	OutcomeFailed    Outcome = "failed"    // accepted, then could not finish (keygen or signing failed)
	OutcomeStale     Outcome = "stale"     // a report about work that had already moved on
)

// Operation names that do not come from a client method.
const (
	OpCheckpoint = "checkpoint"
)

// Bounds on the free-text fields. Strings longer than these are cut by
// Clean, so no caller can make a record, or the chain, arbitrarily large.
const (
	MaxActorLen  = 256
	MaxReasonLen = 256
	MaxFieldLen  = 128 // op, key, request id
)

// GenesisHash is the prev_hash of the first record: 32 zero bytes in hex.
var GenesisHash = strings.Repeat("0", 64)

// Record is one link of the audit chain. JSON field names are the export
// format's contract.
type Record struct {
	Seq         uint64      `json:"seq"`
	Index       uint64      `json:"index"` // raft log index of the entry
	Time        int64       `json:"time"`  // replicated time, unix nanoseconds
	Actor       string      `json:"actor"`
	Op          string      `json:"op"`
	Key         string      `json:"key,omitempty"`
	Version     uint32      `json:"version,omitempty"`
	RequestID   string      `json:"request_id,omitempty"`
	InputSHA256 string      `json:"input_sha256,omitempty"` // hex SHA-256 of a signed input
	Outcome     Outcome     `json:"outcome"`
	Reason      string      `json:"reason,omitempty"`
	Count       uint64      `json:"count,omitempty"`        // aggregated denials
	WindowStart int64       `json:"window_start,omitempty"` // aggregated denials, unix nanoseconds
	WindowEnd   int64       `json:"window_end,omitempty"`
	PublicKey   string      `json:"public_key,omitempty"` // hex, when a key version became active
	Checkpoint  *Checkpoint `json:"checkpoint,omitempty"`
	// Ceremony is the evidence of an operator quorum ceremony event
	// (ceremony.go).
	Ceremony *Ceremony `json:"ceremony,omitempty"`
	PrevHash string    `json:"prev_hash"`
	Hash     string    `json:"hash"`
}

// Checkpoint is the audit key's signature over the chain head at Seq.
type Checkpoint struct {
	Seq       uint64 `json:"seq"`
	Head      string `json:"head"`      // hex hash of record Seq
	Signature string `json:"signature"` // hex Ed25519 signature over CheckpointMessage(Seq, Head)
}

// hashTag separates audit hashes from every other SHA-256 in keyquorum and
// versions the encoding.
const hashTag = "keyquorum/audit/record/v1"

// Hash returns the hex SHA-256 of r's canonical encoding: the tag, then
// every field but Hash in declaration order, integers as 8 big-endian bytes
// (Version as 4), strings as a 4-byte big-endian length and their bytes, a
// missing checkpoint as one 0 byte and a present one as a 1 byte followed
// by its three fields, then the previous hash. A record with ceremony
// evidence continues with a 1 byte and the evidence (Ceremony.appendHash);
// one without ends there, so records from before ceremonies keep their
// hashes. The encoding does not depend on JSON, so a record re-encoded by
// another tool keeps its hash.
func Hash(r *Record) string {
	h := sha256.New()
	var b []byte
	u64 := func(v uint64) { b = binary.BigEndian.AppendUint64(b, v) }
	str := func(s string) { b = binary.BigEndian.AppendUint32(b, uint32(len(s))); b = append(b, s...) }
	str(hashTag)
	u64(r.Seq)
	u64(r.Index)
	u64(uint64(r.Time))
	str(r.Actor)
	str(r.Op)
	str(r.Key)
	b = binary.BigEndian.AppendUint32(b, r.Version)
	str(r.RequestID)
	str(r.InputSHA256)
	str(string(r.Outcome))
	str(r.Reason)
	u64(r.Count)
	u64(uint64(r.WindowStart))
	u64(uint64(r.WindowEnd))
	str(r.PublicKey)
	if c := r.Checkpoint; c != nil {
		b = append(b, 1)
		u64(c.Seq)
		str(c.Head)
		str(c.Signature)
	} else {
		b = append(b, 0)
	}
	str(r.PrevHash)
	if r.Ceremony != nil {
		b = append(b, 1)
		b = r.Ceremony.appendHash(b)
	}
	h.Write(b)
	return hex.EncodeToString(h.Sum(nil))
}

// Link makes r the record after prev (nil for the first record): it sets
// Seq, PrevHash and Hash, and returns r.
func Link(prevSeq uint64, prevHash string, r Record) Record {
	if prevHash == "" {
		prevHash = GenesisHash
	}
	r.Seq = prevSeq + 1
	r.PrevHash = prevHash
	r.Hash = Hash(&r)
	return r
}

// checkpointTag domain-separates checkpoint signatures from every other
// message the audit key could be asked to sign.
const checkpointTag = "keyquorum/audit/checkpoint/v1"

// CheckpointMessage is what the audit key signs for a checkpoint: the tag,
// seq as 8 big-endian bytes, and the head hash as hex.
func CheckpointMessage(seq uint64, head string) []byte {
	b := make([]byte, 0, len(checkpointTag)+8+len(head))
	b = append(b, checkpointTag...)
	b = binary.BigEndian.AppendUint64(b, seq)
	return append(b, head...)
}

// InputHash returns the hex SHA-256 of a signed input, the only trace of
// the input a record keeps.
func InputHash(input []byte) string {
	s := sha256.Sum256(input)
	return hex.EncodeToString(s[:])
}

// Clean bounds s to max bytes and escapes what could forge structure in a
// table, a log line or a terminal: control characters, invalid UTF-8 and
// backslashes become Go-style escapes. The result is valid UTF-8, printable
// and at most max bytes; a cut string ends in "...".
func Clean(s string, max int) string {
	var b strings.Builder
	for i, r := range s {
		var piece string
		switch {
		case r == utf8.RuneError && len(s[i:]) > 0 && !validAt(s, i):
			piece = `\x` + hex.EncodeToString([]byte{s[i]})
		case r == '\\':
			piece = `\\`
		case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == 0x2028 || r == 0x2029:
			piece = `\u` + hex.EncodeToString([]byte{byte(r >> 8), byte(r)})
		default:
			piece = string(r)
		}
		if b.Len()+len(piece) > max {
			return cut(b.String(), max)
		}
		b.WriteString(piece)
	}
	return b.String()
}

func validAt(s string, i int) bool {
	r, size := utf8.DecodeRuneInString(s[i:])
	return !(r == utf8.RuneError && size <= 1)
}

// cut shortens s to at most max bytes ending in "...", on a rune boundary.
func cut(s string, max int) string {
	if max < 3 {
		return s[:0]
	}
	end := min(max-3, len(s))
	for end > 0 && end < len(s) && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + "..."
}
