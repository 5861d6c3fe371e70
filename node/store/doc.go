// Package store keeps what a member holds on its own disk, sealed: its key
// shares (Shares), each tenant's data-encryption key (TenantKeys), its
// ECDSA pre-parameters (PreParams), the list of them a backup carries
// (SealedFiles), and the offline rebuild of them from a backup (Restore).
// Opened secrets live in protected memory (node/secmem), and a secret
// leaves the disk only by shredding.
package store

import (
	"context"

	"github.com/keyquorum/keyquorum/sealing"
)

// Sealer is what the store needs of its secret store: shares, tenant keys
// and pre-params are sealed to a binding before they touch the disk.
// sealing.TPM is the production one.
type Sealer interface {
	Seal(ctx context.Context, b sealing.Binding, plaintext []byte) ([]byte, error)
	Open(ctx context.Context, b sealing.Binding, blob []byte) ([]byte, error)
}
