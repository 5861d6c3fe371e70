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
)

// Binding names what a sealed blob belongs to; it is authenticated as AES-GCM associated data,
// so a blob moved to another cluster, node, key, version, epoch or kind fails to open.
//
// A Binding is not secret: its fields appear in error messages.
type Binding struct {
	ClusterID string
	NodeID    string
	Kind      string // "share" or "preparams"
	KeyID     string
	Version   uint32
	Epoch     uint32
}

// Validate reports ErrInvalidBinding when ClusterID or NodeID is empty, Kind
// is not KindShare or KindPreParams, or a share names no KeyID.
func (b Binding) Validate() error {
	switch {
	case b.ClusterID == "":
		return fmt.Errorf("%w: empty cluster id", ErrInvalidBinding)
	case b.NodeID == "":
		return fmt.Errorf("%w: empty node id", ErrInvalidBinding)
	case b.Kind != KindShare && b.Kind != KindPreParams:
		return fmt.Errorf("%w: unknown kind %q", ErrInvalidBinding, b.Kind)
	case b.Kind == KindShare && b.KeyID == "":
		return fmt.Errorf("%w: share without key id", ErrInvalidBinding)
	}
	return nil
}

// String names the binding for error messages, e.g.
// "share key=k1 version=1 epoch=0 node=n2 cluster=c1".
func (b Binding) String() string {
	return fmt.Sprintf("%s key=%s version=%d epoch=%d node=%s cluster=%s",
		b.Kind, b.KeyID, b.Version, b.Epoch, b.NodeID, b.ClusterID)
}

// aadDomain separates keyquorum's sealed blobs from any other use of the KEK.
const aadDomain = "keyquorum/sealing/binding"

// associatedData encodes the binding canonically: a domain tag, the envelope
// format version, then every string length-prefixed (so "ab"+"c" and
// "a"+"bc" differ) and the integers in fixed width.
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
	return out
}

func appendString(out []byte, s string) []byte {
	out = binary.BigEndian.AppendUint32(out, uint32(len(s)))
	return append(out, s...)
}
