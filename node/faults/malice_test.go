//go:build kqd_bugs

package faults

import (
	"testing"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/malice"
)

// TestMaliceShape: only "malice-<shape>" and "malice-<shape>-…" ask for
// a shape.
func TestMaliceShape(t *testing.T) {
	s := malice.Shapes()[0]
	for id, want := range map[string]malice.Shape{
		"malice-" + string(s):          s,
		"malice-" + string(s) + "-r1":  s,
		"malice-" + string(s) + "x-r1": "",
		"req-" + string(s):             "",
	} {
		if got := maliceShape(id); got != want {
			t.Errorf("maliceShape(%q) = %q, want %q", id, got, want)
		}
	}
}

// TestMalicePlaysOnlyWithTheBug: without the malicious-member bug a
// session's messages pass unchanged.
func TestMalicePlaysOnlyWithTheBug(t *testing.T) {
	var m Malice
	done := m.Play(Bugs{}, tss.SessionID{1}, "malice-"+string(malice.Shapes()[0]), nil)
	defer done()
	msg := tss.Message{Session: tss.SessionID{1}}
	out, err := m.Outbound(msg, "n2")
	if err != nil || len(out) != 1 {
		t.Fatalf("Outbound = %v, %v", out, err)
	}
}
