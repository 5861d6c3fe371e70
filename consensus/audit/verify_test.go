package audit_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/consensus/audit/audittest"
)

func jsonl(t *testing.T, recs []audit.Record) []string {
	t.Helper()
	var lines []string
	for i := range recs {
		b, err := audit.AppendJSONL(nil, &recs[i])
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, strings.TrimSuffix(string(b), "\n"))
	}
	return lines
}

func verifyLines(lines []string, pub ed25519.PublicKey) (audit.Report, error) {
	return audit.VerifyJSONL(strings.NewReader(strings.Join(lines, "\n")+"\n"), pub, false)
}

func TestVerifyUntouchedChainChecksEveryCheckpoint(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	rep, err := verifyLines(jsonl(t, recs), pub)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 40 || rep.FirstSeq != 1 || rep.LastSeq != 40 || rep.Head != recs[39].Hash || !rep.SignaturesChecked || rep.Checkpoints != 3 {
		t.Fatalf("report %+v", rep)
	}
	// Independently of the verifier: every checkpoint's signature checks
	// with crypto/ed25519 over the documented message, and its head is the
	// hash of the record it names.
	for _, r := range recs {
		if c := r.Checkpoint; c != nil {
			sig, _ := hex.DecodeString(c.Signature)
			if !ed25519.Verify(pub, audit.CheckpointMessage(c.Seq, c.Head), sig) || recs[c.Seq-1].Hash != c.Head {
				t.Fatalf("checkpoint in seq %d does not verify independently", r.Seq)
			}
		}
	}
}

func TestVerifyNamesTheFirstBadRecord(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	lines := jsonl(t, audittest.Chain(40, priv, nil))
	otherPub, _, _ := ed25519.GenerateKey(nil)
	cases := []struct {
		name    string
		edit    func(l []string) []string
		pub     ed25519.PublicKey
		seq     uint64
		line    int
		problem string
	}{
		{"flip one byte", func(l []string) []string {
			b := []byte(l[16])
			i := bytes.Index(b, []byte("admin"))
			b[i] ^= 0x01 // "admin" -> "`dmin": still valid JSON
			l[16] = string(b)
			return l
		}, pub, 17, 17, "altered"},
		{"delete one record", func(l []string) []string { return append(l[:16:16], l[17:]...) }, pub, 18, 17, "expected seq 17"},
		{"reorder two records", func(l []string) []string { l[16], l[17] = l[17], l[16]; return l }, pub, 18, 17, "expected seq 17"},
		{"repeat a record", func(l []string) []string { return append(l[:17:17], l[16:]...) }, pub, 17, 18, "repeats seq 17"},
		{"delete the first record", func(l []string) []string { return l[1:] }, pub, 2, 1, "start at seq 1"},
		{"another audit key", func(l []string) []string { return l }, otherPub, 11, 11, "does not verify under the audit key"},
		{"forged checkpoint signature", func(l []string) []string {
			l[10] = strings.Replace(l[10], `"signature":"`, `"signature":"00`, 1)
			return l
		}, pub, 11, 11, "altered"},
		{"broken JSON", func(l []string) []string { l[4] = l[4][:20]; return l }, pub, 0, 5, "not a valid record"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := verifyLines(tc.edit(append([]string(nil), lines...)), tc.pub)
			var ve *audit.VerifyError
			if !errors.As(err, &ve) || !errors.Is(err, audit.ErrChainBroken) {
				t.Fatalf("got %v, want a VerifyError", err)
			}
			if ve.Seq != tc.seq || ve.Line != tc.line || !strings.Contains(ve.Problem, tc.problem) {
				t.Fatalf("got seq %d line %d %q, want seq %d line %d containing %q", ve.Seq, ve.Line, ve.Problem, tc.seq, tc.line, tc.problem)
			}
			if tc.seq != 0 && !strings.Contains(err.Error(), fmt.Sprintf("seq %d", tc.seq)) {
				t.Fatalf("error %q does not name seq %d", err, tc.seq)
			}
		})
	}
}

func TestVerifyCheckpointWithRecomputedHashStillFails(t *testing.T) {
	// An attacker who rewrites a record and recomputes every later hash
	// cannot forge the checkpoint that covers it.
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(25, priv, nil)
	recs[4].Actor = "someone else"
	for i := 4; i < len(recs); i++ {
		recs[i].PrevHash = recs[i-1].Hash
		if c := recs[i].Checkpoint; c != nil {
			c.Head = recs[c.Seq-1].Hash // re-point the checkpoint too
		}
		recs[i].Hash = audit.Hash(&recs[i])
	}
	_, err := audit.Verify(recs, pub, false)
	var ve *audit.VerifyError
	if !errors.As(err, &ve) || ve.Seq != 11 || !strings.Contains(ve.Problem, "does not verify under the audit key") {
		t.Fatalf("got %v, want the checkpoint in seq 11 to fail", err)
	}
	if _, err := audit.Verify(recs, nil, false); err != nil {
		t.Fatalf("without the key only the links are checked, and they hold: %v", err)
	}
}

func TestVerifyPartialExport(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	recs := audittest.Chain(40, priv, nil)
	rep, err := audit.Verify(recs[12:], pub, true)
	if err != nil || rep.FirstSeq != 13 || rep.Records != 28 {
		t.Fatalf("partial export: %+v %v", rep, err)
	}
	if _, err := audit.Verify(recs[12:], pub, false); err == nil {
		t.Fatal("a chain that does not start at seq 1 verified as complete")
	}
}

func TestHashCoversEveryField(t *testing.T) {
	base := audit.Record{Seq: 1, Index: 2, Time: 3, Actor: "a", Op: "o", Key: "k", Version: 4, RequestID: "r", InputSHA256: "i",
		Outcome: audit.OutcomeOK, Reason: "why", Count: 5, WindowStart: 6, WindowEnd: 7, PublicKey: "p",
		Checkpoint: &audit.Checkpoint{Seq: 1, Head: "h", Signature: "s"}, PrevHash: audit.GenesisHash}
	h := audit.Hash(&base)
	edits := []func(r *audit.Record){
		func(r *audit.Record) { r.Seq++ }, func(r *audit.Record) { r.Index++ }, func(r *audit.Record) { r.Time++ },
		func(r *audit.Record) { r.Actor += "x" }, func(r *audit.Record) { r.Op += "x" }, func(r *audit.Record) { r.Key += "x" },
		func(r *audit.Record) { r.Version++ }, func(r *audit.Record) { r.RequestID += "x" }, func(r *audit.Record) { r.InputSHA256 += "x" },
		func(r *audit.Record) { r.Outcome = audit.OutcomeDenied }, func(r *audit.Record) { r.Reason += "x" }, func(r *audit.Record) { r.Count++ },
		func(r *audit.Record) { r.WindowStart++ }, func(r *audit.Record) { r.WindowEnd++ }, func(r *audit.Record) { r.PublicKey += "x" },
		func(r *audit.Record) { r.Checkpoint = nil }, func(r *audit.Record) { r.Checkpoint = &audit.Checkpoint{Seq: 2, Head: "h", Signature: "s"} },
		func(r *audit.Record) { r.Checkpoint = &audit.Checkpoint{Seq: 1, Head: "hx", Signature: "s"} },
		func(r *audit.Record) { r.Checkpoint = &audit.Checkpoint{Seq: 1, Head: "h", Signature: "sx"} },
		func(r *audit.Record) { r.PrevHash = "x" },
		// Moving a byte from one field to the next must change the hash too.
		func(r *audit.Record) { r.Actor, r.Op = "ao", "" },
	}
	for i, edit := range edits {
		r := base
		edit(&r)
		if audit.Hash(&r) == h {
			t.Errorf("edit %d does not change the hash", i)
		}
	}
}

func TestCleanBoundsAndEscapes(t *testing.T) {
	cases := []struct {
		in   string
		max  int
		want string
	}{
		{"plain", 20, "plain"},
		{"new\nline\ttab", 64, `new\u000aline\u0009tab`},
		{"back\\slash", 64, `back\\slash`},
		{"esc\x1b[31mred", 64, `esc\u001b[31mred`},
		{"bad\xffutf8", 64, `bad\xffutf8`},
		{"sep\u2028", 64, `sep\u2028`},
		{"ünïcode ok", 64, "ünïcode ok"},
		{strings.Repeat("a", 300), 20, strings.Repeat("a", 17) + "..."},
		{strings.Repeat("é", 30), 20, strings.Repeat("é", 8) + "..."},
		{"short\n" + strings.Repeat("b", 30), 20, `short\u000a` + strings.Repeat("b", 6) + "..."},
	}
	for _, tc := range cases {
		got := audit.Clean(tc.in, tc.max)
		if got != tc.want {
			t.Errorf("Clean(%q, %d) = %q, want %q", tc.in, tc.max, got, tc.want)
		}
		if len(got) > tc.max || !utf8.ValidString(got) || strings.ContainsAny(got, "\n\r\t\x1b") {
			t.Errorf("Clean(%q) = %q: too long, invalid or unescaped", tc.in, got)
		}
	}
}
