package service

import (
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/policy"
)

// Key names are TENANT/NAME; a bare NAME is in tenant default, and so is
// default/NAME, which is stored as NAME so that keys created before
// tenants keep their names (and their shares' paths).

// keyName checks a client's key name and rewrites it to its stored form.
func keyName(name *string) error {
	tenant, bare, scoped := strings.Cut(*name, "/")
	if !scoped {
		return checkName(*name)
	}
	if !policy.ValidTenant(tenant) {
		return status.Errorf(codes.InvalidArgument, "key name %q: the tenant before '/' is 1-32 lower-case letters, digits, '_' or '-'", truncate(*name, 100))
	}
	if err := checkName(bare); err != nil {
		return err
	}
	if tenant == policy.DefaultTenant {
		*name = bare
	}
	return nil
}

// mayRead reports whether actor may see key: reads are filtered where
// they are served, by the policy this replica has applied.
func (n *core) mayRead(actor, key string) bool {
	return n.fsm.Authorize(actor, policy.ActReadKey, key).Verdict == policy.Allow
}
