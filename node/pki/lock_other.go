//go:build !unix

package pki

// lockDir is a no-op where flock is unavailable: start one node first there.
func lockDir(string) (func(), error) { return func() {}, nil }
