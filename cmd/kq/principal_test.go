package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
)

// kq acts as the principal --as names, or as the pair --cert and --key
// name; without either it is the bootstrap admin. The fake nodes admit
// admin alone, so a refusal naming alice shows which identity kq presented.
func TestCLIActsAsAPrincipal(t *testing.T) {
	tc := startCluster(t)
	out, errOut, code := tc.kq(t, "-o", "json", "certs", "issue", "--principal", "alice", "--ttl", "1h")
	if code != 0 {
		t.Fatalf("certs issue: exit %d: %s", code, errOut)
	}
	var v struct {
		Dir     string   `json:"dir"`
		Created []string `json:"created"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil || len(v.Created) != 2 ||
		filepath.Base(v.Created[0]) != "alice.pem" || filepath.Base(v.Created[1]) != "alice.key" {
		t.Fatalf("certs issue printed %s (%v)", out, err)
	}
	if _, errOut, code := tc.kq(t, "certs", "issue", "--principal", "alice"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("second issue: exit %d: %s", code, errOut)
	}
	if _, errOut, code := tc.kq(t, "certs", "issue"); code != 2 || !strings.Contains(errOut, "principal") {
		t.Errorf("issue without --principal: exit %d: %s", code, errOut)
	}

	if _, errOut, code := tc.kq(t, "status"); code != 0 {
		t.Fatalf("status as admin: exit %d: %s", code, errOut)
	}
	if _, errOut, code := tc.kq(t, "--as", "admin", "status"); code != 0 {
		t.Fatalf("status --as admin: exit %d: %s", code, errOut)
	}
	const refused = "kq: PermissionDenied: spiffe://kq-test/client/alice may not call"
	if _, errOut, code := tc.kq(t, "--as", "alice", "key", "list"); code != 1 || !strings.HasPrefix(errOut, refused) {
		t.Errorf("--as alice: exit %d: %s", code, errOut)
	}
	cert, key := v.Created[0], v.Created[1]
	if _, errOut, code := tc.kq(t, "--cert", cert, "--key", key, "key", "list"); code != 1 || !strings.HasPrefix(errOut, refused) {
		t.Errorf("--cert/--key: exit %d: %s", code, errOut)
	}
	if _, errOut, code := tc.kq(t, "--cert", cert, "--cert-key", key, "key", "list"); code != 1 || !strings.HasPrefix(errOut, refused) {
		t.Errorf("--cert/--cert-key: exit %d: %s", code, errOut)
	}
	if _, errOut, code := tc.kq(t, "--as", "bob", "key", "list"); code != 1 || !strings.Contains(errOut, "certs issue --principal bob") {
		t.Errorf("--as an unissued principal: exit %d: %s", code, errOut)
	}
	if _, _, code := tc.kq(t, "--as", "alice", "--cert", cert, "--key", key, "key", "list"); code != 2 {
		t.Errorf("--as with --cert: exit %d, want a usage error", code)
	}
	if _, _, code := tc.kq(t, "--cert", cert, "key", "list"); code != 2 {
		t.Errorf("--cert without --key: exit %d, want a usage error", code)
	}
}

// kq principal revoke names a principal or, with --serial, one
// certificate: neither or both is a usage error, refused before any call.
func TestCLIPrincipalRevokeNamesOneThing(t *testing.T) {
	tc := startCluster(t)
	for _, args := range [][]string{
		{"principal", "revoke"},
		{"principal", "revoke", "alice", "--serial", "0a1b"},
		{"principal", "revoke", "alice", "bob"},
	} {
		if _, errOut, code := tc.kq(t, args...); code != 2 {
			t.Errorf("kq %s: exit %d, want a usage error: %s", strings.Join(args, " "), code, errOut)
		}
	}
}
