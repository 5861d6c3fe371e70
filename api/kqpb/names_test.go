package kqpb_test

import (
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// TestEveryEnumValueHasOneNameThatMapsBack: each key state and algorithm
// of the wire, the zero value aside, has a name of its own (the wire name
// in lower case, without the prefix), and that name maps back to it; a new
// enum value without a name fails here instead of showing "unspecified".
func TestEveryEnumValueHasOneNameThatMapsBack(t *testing.T) {
	seen := map[string]bool{}
	for v, wire := range kqpb.KeyState_name {
		s := kqpb.KeyState(v)
		if s == kqpb.KeyState_KEY_STATE_UNSPECIFIED {
			if s.Name() != kqpb.NameUnspecified {
				t.Errorf("zero state is named %q", s.Name())
			}
			continue
		}
		name := s.Name()
		if want := strings.ToLower(strings.TrimPrefix(wire, "KEY_STATE_")); name != want || seen[name] {
			t.Errorf("%s is named %q, want %q once", wire, name, want)
		}
		seen[name] = true
		if back, ok := kqpb.KeyStateNamed(name); !ok || back != s {
			t.Errorf("KeyStateNamed(%q) = %v, %v; want %v", name, back, ok, s)
		}
	}
	if got := kqpb.KeyStateNames(); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(maps.Keys(seen))) {
		t.Errorf("KeyStateNames() = %v, want every state's name once", got)
	}
	for v, wire := range kqpb.Algorithm_name {
		a := kqpb.Algorithm(v)
		if a == kqpb.Algorithm_ALGORITHM_UNSPECIFIED {
			continue
		}
		if back, ok := kqpb.AlgorithmNamed(a.Name()); !ok || back != a || a.Name() == kqpb.NameUnspecified {
			t.Errorf("%s is named %q, which maps back to %v, %v", wire, a.Name(), back, ok)
		}
	}
	for _, bad := range []string{"", "unspecified", "ACTIVE", "KEY_STATE_ACTIVE", "ed448"} {
		if s, ok := kqpb.KeyStateNamed(bad); ok || s != kqpb.KeyState_KEY_STATE_UNSPECIFIED {
			t.Errorf("KeyStateNamed(%q) = %v, %v; want none", bad, s, ok)
		}
		if a, ok := kqpb.AlgorithmNamed(bad); ok || a != kqpb.Algorithm_ALGORITHM_UNSPECIFIED {
			t.Errorf("AlgorithmNamed(%q) = %v, %v; want none", bad, a, ok)
		}
	}
	if kqpb.KeyState(99).Name() != kqpb.NameUnspecified || kqpb.Algorithm(99).Name() != kqpb.NameUnspecified {
		t.Error("an unknown value has a name")
	}
}
