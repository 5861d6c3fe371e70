package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/audit"
)

// writeChain writes a 30-record export with a checkpoint at seq 21 over
// the head at seq 20, and returns its lines.
func writeChain(t *testing.T, path string, priv ed25519.PrivateKey) []string {
	t.Helper()
	var buf []byte
	var seq uint64
	head := ""
	var lines []string
	for i := 1; i <= 30; i++ {
		r := audit.Record{Index: uint64(i), Actor: "spiffe://c/client/admin", Op: "sign", Key: "k", Outcome: audit.OutcomeOK}
		if i == 21 {
			r = audit.Record{Index: uint64(i), Actor: "node:n1", Op: audit.OpCheckpoint, Key: "_audit", Outcome: audit.OutcomeOK,
				Checkpoint: &audit.Checkpoint{Seq: seq, Head: head, Signature: hex.EncodeToString(ed25519.Sign(priv, audit.CheckpointMessage(seq, head)))}}
		}
		r = audit.Link(seq, head, r)
		seq, head = r.Seq, r.Hash
		line, err := audit.AppendJSONL(nil, &r)
		if err != nil {
			t.Fatal(err)
		}
		buf = append(buf, line...)
		lines = append(lines, strings.TrimSuffix(string(line), "\n"))
	}
	if err := os.WriteFile(path, buf, 0o600); err != nil {
		t.Fatal(err)
	}
	return lines
}

func TestAuditVerifyFromFile(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(nil)
	dir := t.TempDir()
	good := filepath.Join(dir, "good.jsonl")
	lines := writeChain(t, good, priv)
	kq := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := run(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, errs := kq("audit", "verify", "--from-file", good, "--public-key", hex.EncodeToString(pub))
	if code != exitOK || !strings.Contains(out, "OK: 30 records") || !strings.Contains(out, "1 checkpoint signatures valid") {
		t.Fatalf("untouched export: exit %d\n%s%s", code, out, errs)
	}

	bad := filepath.Join(dir, "bad.jsonl")
	lines[14] = strings.Replace(lines[14], `"op":"sign"`, `"op":"sigN"`, 1)
	if err := os.WriteFile(bad, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, errs = kq("audit", "verify", "--from-file", bad, "--public-key", hex.EncodeToString(pub))
	if code != exitFailure || !strings.Contains(errs, "record seq 15 (line 15)") || !strings.Contains(errs, "altered") {
		t.Fatalf("tampered export: exit %d, stderr %q", code, errs)
	}

	other, _, _ := ed25519.GenerateKey(nil)
	code, _, errs = kq("audit", "verify", "--from-file", good, "--public-key", hex.EncodeToString(other))
	if code != exitFailure || !strings.Contains(errs, "record seq 21") {
		t.Fatalf("another key: exit %d, stderr %q", code, errs)
	}
	if code, _, _ = kq("audit", "verify", "--from-file", good, "--public-key", "abcd"); code != exitUsage {
		t.Fatalf("short key: exit %d, want usage", code)
	}
}
