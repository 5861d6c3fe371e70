package policy_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

func TestParsePolicyRefusesABrokenDocumentWhole(t *testing.T) {
	for name, doc := range map[string]string{
		"issuer and signer":          "tenants: [acme]\nprincipals: {x: {roles: [{role: issuer, tenant: acme}, {role: signer, tenant: acme}]}}",
		"key-admin and auditor on *": "tenants: [acme]\nprincipals: {x: {roles: [{role: key-admin, tenant: '*'}, {role: auditor, tenant: acme}]}}",
		"a declared pair":            "tenants: [acme]\nseparation_of_duties: [[signer, auditor]]\nprincipals: {x: {roles: [{role: signer, tenant: acme}, {role: auditor, tenant: acme}]}}",
		"no cluster-admin":           "principals: {admin: {roles: [{role: key-admin, tenant: default}]}}",
		"the only admin denied":      "denied: [admin]",
		"cluster-admin on a tenant":  "tenants: [acme]\nprincipals: {x: {roles: [{role: cluster-admin, tenant: acme}]}}",
		"unknown role":               "principals: {x: {roles: [{role: root}]}}",
		"unknown tenant":             "principals: {x: {roles: [{role: signer, tenant: nope}]}}",
		"unknown field":              "tenant: [acme]",
		"purposes on a signer":       "principals: {x: {roles: [{role: signer, tenant: default, purposes: [a]}]}}",
		"bad ttl":                    "principals: {x: {roles: [{role: issuer, tenant: default, max_ttl: soon}]}}",
		"quota of no tenant":         "quotas: {acme: {keys: 1}}",
		"bad principal":              "principals: {Alice: {roles: []}}",
	} {
		if _, err := policy.Parse([]byte(doc)); !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalidPolicy", name, err)
		}
	}
	if _, err := policy.Parse([]byte("tenants: [acme]\nseparation_of_duties: []\nprincipals: {x: {roles: [{role: issuer, tenant: acme}, {role: signer, tenant: acme}]}}")); err != nil {
		t.Errorf("an explicitly empty separation_of_duties still refused issuer+signer: %v", err)
	}
}

func TestCanonicalSerial(t *testing.T) {
	for in, want := range map[string]string{
		"0A:1B:FF": "a1bff", "0x00ff": "ff", "00": "0", " 7f ": "7f", "1234567890abcdef1234567890abcdef12345678": "1234567890abcdef1234567890abcdef12345678",
	} {
		if got, err := policy.CanonicalSerial(in); err != nil || got != want {
			t.Errorf("CanonicalSerial(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "0x", "xyz", "12 34", strings.Repeat("f", 41)} {
		if got, err := policy.CanonicalSerial(bad); !errors.Is(err, policy.ErrInvalid) {
			t.Errorf("CanonicalSerial(%q) = %q, %v; want an invalid policy error", bad, got, err)
		}
	}
}
