package sealing

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// go-tpm cuts session auth values at the first zero byte; the derived value
// must never contain one, and must stay within a SHA-256 object's 32 bytes.
func TestDeriveAuthHasNoZeroBytes(t *testing.T) {
	seen := map[string]bool{}
	for i := range 5000 {
		raw := binary.BigEndian.AppendUint64(make([]byte, 16), uint64(i))
		a := deriveAuth(raw)
		if len(a) != 32 {
			t.Fatalf("auth is %d bytes", len(a))
		}
		if bytes.IndexByte(a, 0) >= 0 {
			t.Fatalf("auth %q contains a zero byte", a)
		}
		seen[string(a)] = true
	}
	if len(seen) != 5000 {
		t.Fatalf("%d distinct auth values from 5000 inputs", len(seen))
	}
}
