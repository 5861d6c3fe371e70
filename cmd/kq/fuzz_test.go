package main

import (
	"bytes"
	"encoding/hex"
	"strings"
	"testing"
)

// FuzzParseHex feeds arbitrary flag values to the hex parser behind kq
// verify's --digest and --signature and kq audit verify's --public-key. It
// must not panic; a value it accepts is non-empty, decodes to at most half
// its length, and is the hex of the bytes it returns, give or take
// surrounding space, a 0x prefix and letter case.
func FuzzParseHex(f *testing.F) {
	f.Add(strings.Repeat("ab", 32))
	f.Add(" 0x3045022100" + strings.Repeat("11", 32) + "0220" + strings.Repeat("22", 32) + "\n")
	f.Add("0X")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parseHex("--digest", s)
		if err != nil {
			if b != nil {
				t.Fatalf("refused %q with %v but returned %x", s, err, b)
			}
			return
		}
		if len(b) == 0 || 2*len(b) > len(s) {
			t.Fatalf("%q decoded to %d bytes", s, len(b))
		}
		trimmed := strings.TrimPrefix(strings.TrimPrefix(strings.TrimSpace(s), "0x"), "0X")
		if !strings.EqualFold(hex.EncodeToString(b), trimmed) {
			t.Fatalf("%q decoded to %x", s, b)
		}
		if again, err := parseHex("--digest", hex.EncodeToString(b)); err != nil || !bytes.Equal(again, b) {
			t.Fatalf("re-parse of %x: %x, %v", b, again, err)
		}
	})
}
