package sealing

import (
	"encoding/binary"
	"fmt"
)

// Kinds of sealed secrets. The kind is part of the Binding, so a share blob
// never opens as pre-parameters or the other way round.
const (
	KindShare     = "share"     // a tss key share, one per key version
	KindPreParams = "preparams" // tss-lib pre-parameters kept ahead of keygen
	// KindTenantKey is a tenant's data-encryption key, sealed under the
	// KEK; KeyID names the tenant and Version its generation.
	KindTenantKey = "tenant-key"
)

// Binding names what a sealed blob belongs to; it is authenticated as AES-GCM associated data,
// so a blob moved to another cluster, node, key, version, epoch, kind or tenant fails to open.
//
// A Binding is not secret: its fields appear in error messages.
type Binding struct {
	ClusterID string
	NodeID    string
	Kind      string // "share" or "preparams"
	KeyID     string
	Version   uint32
	Epoch     uint32
	// Tenant names the tenant whose data-encryption key seals the blob;
	// empty for blobs sealed under the KEK itself.
	Tenant string
}

// Validate reports ErrInvalidBinding when ClusterID or NodeID is empty, Kind
// is not KindShare or KindPreParams, or a share names no KeyID.
func (b Binding) Validate() error {
	switch {
	case b.ClusterID == "":
		return fmt.Errorf("%w: empty cluster id", ErrInvalidBinding)
	case b.NodeID == "":
		return fmt.Errorf("%w: empty node id", ErrInvalidBinding)
	case b.Kind != KindShare && b.Kind != KindPreParams && b.Kind != KindTenantKey:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidBinding, b.Kind)
	case b.Kind == KindShare && b.KeyID == "":
		return fmt.Errorf("%w: share without key id", ErrInvalidBinding)
	case b.Kind == KindTenantKey && b.KeyID == "":
		return fmt.Errorf("%w: tenant key without tenant", ErrInvalidBinding)
	}
	return nil
}

// String names the binding for error messages, e.g.
// "share key=k1 version=1 epoch=0 node=n2 cluster=c1".
func (b Binding) String() string {
	s := fmt.Sprintf("%s key=%s version=%d epoch=%d node=%s cluster=%s",
		b.Kind, b.KeyID, b.Version, b.Epoch, b.NodeID, b.ClusterID)
	if b.Tenant != "" {
		s += " tenant=" + b.Tenant
	}
	return s
}

// aadDomain separates keyquorum's sealed blobs from any other use of the KEK.
const aadDomain = "keyquorum/sealing/binding"

// associatedData encodes the binding canonically: a domain tag, the envelope
// format version, then every string length-prefixed (so "ab"+"c" and
// "a"+"bc" differ) and the integers in fixed width. A tenant follows,
// length-prefixed, only when set, so blobs sealed before tenants existed
// keep their associated data, and a tenant's never equals one without.
func (b Binding) associatedData(format byte) []byte {
	n := len(aadDomain) + 1 + 4*5 + len(b.ClusterID) + len(b.NodeID) + len(b.Kind) + len(b.KeyID) + 8
	out := make([]byte, 0, n+4)
	out = appendString(out, aadDomain)
	out = append(out, format)
	for _, s := range []string{b.ClusterID, b.NodeID, b.Kind, b.KeyID} {
		out = appendString(out, s)
	}
	out = binary.BigEndian.AppendUint32(out, b.Version)
	out = binary.BigEndian.AppendUint32(out, b.Epoch)
	if b.Tenant != "" {
		out = appendString(out, b.Tenant)
	}
	return out
}

func appendString(out []byte, s string) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
	return append(out, s...)
}
