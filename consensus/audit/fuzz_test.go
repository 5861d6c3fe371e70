package audit_test

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// fuzzKey is the audit key of the fuzz seeds: fixed, so that seed
// checkpoints verify on every run.
var fuzzKey = ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, ed25519.SeedSize))

// FuzzVerifyJSONL feeds arbitrary exports to the parser and verifier behind
// `kq audit verify --from-file`. Neither may panic. Every line the parser
// accepts is one JSON value (nothing hides after a record) and re-encodes
// to a record that reads back equal, with the same hash. A verdict is the
// same on the re-encoded export and on the records themselves; a chain
// that verifies is reported with its real count, first and last seq and
// head. A refusal wraps ErrChainBroken, or says a line was too long.
func FuzzVerifyJSONL(f *testing.F) {
	var recs []audit.Record
	var seq uint64
	head := ""
	for i := 1; len(recs) < 24; i++ {
		r := audit.Record{Index: uint64(i), Time: int64(i) * 1e9, Actor: "spiffe://c/client/admin", Op: "sign",
			Key: "k", Version: 1, RequestID: "r", InputSHA256: audit.InputHash([]byte{byte(i)}), Outcome: audit.OutcomeOK}
		if i%10 == 0 {
			at := recs[len(recs)-3]
			sig := ed25519.Sign(fuzzKey, audit.CheckpointMessage(at.Seq, at.Hash))
			r = audit.Record{Index: uint64(i), Actor: "node:n1", Op: audit.OpCheckpoint, Key: "_audit", Outcome: audit.OutcomeOK,
				Checkpoint: &audit.Checkpoint{Seq: at.Seq, Head: at.Hash, Signature: hex.EncodeToString(sig)}}
		}
		r = audit.Link(seq, head, r)
		seq, head = r.Seq, r.Hash
		recs = append(recs, r)
	}
	lines := func(rs []audit.Record) []byte {
		var b []byte
		for i := range rs {
			b, _ = audit.AppendJSONL(b, &rs[i])
		}
		return b
	}
	f.Add(lines(recs), false)
	f.Add(lines(recs[5:]), true)
	f.Add(lines(recs[:3]), false)
	f.Add([]byte("\n  \n"+string(lines(recs[:1]))+"\r\n"), false)
	f.Fuzz(func(t *testing.T, data []byte, partial bool) {
		var read []audit.Record
		err := audit.ReadJSONL(bytes.NewReader(data), func(line int, r *audit.Record) error {
			text := nthLine(data, line)
			if !json.Valid(text) {
				t.Fatalf("line %d is not one JSON value, but a record was read from it: %q", line, text)
			}
			b, err := audit.AppendJSONL(nil, r)
			if err != nil {
				t.Fatalf("re-encode line %d: %v", line, err)
			}
			var back audit.Record
			if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(&back, r) || audit.Hash(&back) != audit.Hash(r) {
				t.Fatalf("line %d does not read back after re-encoding (%v):\n%+v\n%+v", line, err, r, &back)
			}
			read = append(read, *r)
			return nil
		}, func(int, error) error { return nil })
		if err != nil && !errors.Is(err, bufio.ErrTooLong) {
			t.Fatalf("ReadJSONL: %v", err)
		}
		for _, pub := range []ed25519.PublicKey{nil, fuzzKey.Public().(ed25519.PublicKey)} {
			rep, err := audit.VerifyJSONL(bytes.NewReader(data), pub, partial)
			if err != nil {
				if !errors.Is(err, audit.ErrChainBroken) && !errors.Is(err, bufio.ErrTooLong) {
					t.Fatalf("VerifyJSONL refused with %v, which wraps neither ErrChainBroken nor ErrTooLong", err)
				}
				continue
			}
			n := uint64(len(read))
			switch {
			case rep.Records != n || n == 0 || rep.LastSeq-rep.FirstSeq+1 != n:
				t.Fatalf("report %+v for %d records", rep, n)
			case rep.Head != read[n-1].Hash || rep.FirstSeq != read[0].Seq:
				t.Fatalf("report %+v does not name the first seq and last hash", rep)
			case !partial && (rep.FirstSeq != 1 || read[0].PrevHash != audit.GenesisHash):
				t.Fatalf("a whole chain verified from seq %d", rep.FirstSeq)
			case rep.Checkpoints > n || rep.SignaturesChecked != (pub != nil):
				t.Fatalf("report %+v", rep)
			}
			same, err := audit.Verify(read, pub, partial)
			if err != nil || same != rep {
				t.Fatalf("Verify on the records: %+v, %v; VerifyJSONL: %+v", same, err, rep)
			}
		}
	})
}

// nthLine returns line n (1-based) of data, trimmed as ReadJSONL trims it.
func nthLine(data []byte, n int) []byte {
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, audit.MaxLineBytes)
	for i := 1; sc.Scan(); i++ {
		if i == n {
			return bytes.TrimSpace(sc.Bytes())
		}
	}
	return nil
}
