package policy_test

import (
	"testing"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

func TestPrincipalQuotaBoundsRateAndSessionsOnly(t *testing.T) {
	for doc, ok := range map[string]bool{
		"principals: {x: {roles: [], quota: {sessions: 2, sign_per_second: 5}}}": true,
		"principals: {x: {roles: [], quota: {keys: 2}}}":                         false,
		"principals: {x: {roles: [], quota: {sessions: -1}}}":                    false,
	} {
		if _, err := policy.Parse([]byte(doc)); (err == nil) != ok {
			t.Errorf("ParsePolicy(%q) = %v, want ok=%v", doc, err, ok)
		}
	}
	a, _ := policy.Parse([]byte("principals: {x: {roles: [], quota: {}}}"))
	b, _ := policy.Parse([]byte("principals: {x: {roles: []}}"))
	_, ha, _ := a.Canonical()
	_, hb, _ := b.Canonical()
	if ha != hb {
		t.Error("an empty principal quota hashes differently from none")
	}
}
