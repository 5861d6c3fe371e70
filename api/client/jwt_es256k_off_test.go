//go:build !jwx_es256k

package client_test

import "testing"

// jwx compiles ES256K in only under its build tag; say so rather than pass
// silently.
func TestJWTES256KVerifiesWithJWX(t *testing.T) {
	t.Skip("ES256K needs jwx's build tag: go test -tags jwx_es256k ./api/client/")
}
