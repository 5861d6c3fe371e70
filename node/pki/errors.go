package pki

import "errors"

var (
	// ErrNoIdentity is returned when a peer presents no verified certificate
	// or its certificate carries no keyquorum identity URI.
	ErrNoIdentity = errors.New("pki: no keyquorum identity")
	// ErrForeignCluster is returned when a peer's identity names another
	// cluster than the CA that verified it.
	ErrForeignCluster = errors.New("pki: identity from another cluster")
	// ErrCAMissing is returned when the CA is needed but absent or
	// incomplete while certificates it issued remain.
	ErrCAMissing = errors.New("pki: certificate authority missing")
)
