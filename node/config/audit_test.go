package config

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestAuditDefaultsAndParse(t *testing.T) {
	c, err := Parse([]byte(good), "/etc/kq", "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.CheckpointEvery != 256 || c.Audit.DenialWindow != 10*time.Second {
		t.Fatalf("defaults: %+v", c.Audit)
	}
	c, err = Parse([]byte(good+"audit:\n  checkpoint_every: 16\n  denial_window: 2s\n"), "/etc/kq", "cluster.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if c.Audit.CheckpointEvery != 16 || c.Audit.DenialWindow != 2*time.Second {
		t.Fatalf("parsed: %+v", c.Audit)
	}
}

func TestAuditOutOfRangeNamesTheLine(t *testing.T) {
	lines := strings.Count(good, "\n")
	for _, tc := range []struct{ yaml, field string }{
		{"audit:\n  checkpoint_every: 4\n", "audit.checkpoint_every"},
		{"audit:\n  checkpoint_every: 100000\n", "audit.checkpoint_every"},
		{"audit:\n  denial_window: 1ms\n", "audit.denial_window"},
		{"audit:\n  checkpoint_every: often\n", "audit.checkpoint_every"},
		{"audit:\n  every: 64\n", "audit.every"},
	} {
		_, err := Parse([]byte(good+tc.yaml), "/etc/kq", "cluster.yaml")
		var fe *FieldError
		if !errors.As(err, &fe) || fe.Field != tc.field || fe.Line != lines+2 {
			t.Errorf("%q: got %v, want an error on %s at line %d", tc.yaml, err, tc.field, lines+2)
		}
	}
}
