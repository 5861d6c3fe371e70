package handle

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

// FuzzParse checks that Parse accepts exactly the token shape: whatever it
// accepts is at most MaxLen bytes, kqh_<id>_<secret> with a valid id and a
// base64url secret, parses back to the same token from its Bearer form, and
// never prints its secret; whatever it refuses is ErrMalformed.
func FuzzParse(f *testing.F) {
	tok, err := New()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok.Bearer())
	f.Add(tok.String())
	f.Add("kqh_0123456789abcdef_se_cr_et")
	f.Add("kqh_0123456789ABCDEF_-_")
	f.Fuzz(func(t *testing.T, s string) {
		tok, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || tok != (Token{}) {
				t.Fatalf("Parse(%q) = %#v, %v; want the zero token and ErrMalformed", s, tok, err)
			}
			return
		}
		secret, ok := strings.CutPrefix(s, prefix+tok.ID()+"_")
		switch {
		case len(s) > MaxLen:
			t.Fatalf("accepted a %d-byte token", len(s))
		case tok.Bearer() != s || !ok || secret == "":
			t.Fatalf("Parse(%q): id %q, bearer %q", s, tok.ID(), tok.Bearer())
		case !ValidID(tok.ID()) || !LooksLike(s):
			t.Fatalf("Parse(%q): id %q is not an id", s, tok.ID())
		case strings.Trim(secret, base64URL) != "":
			t.Fatalf("Parse(%q): secret %q is not base64url", s, secret)
		case tok.Proof() != sha256.Sum256([]byte(s)):
			t.Fatalf("Parse(%q): proof is not the token's SHA-256", s)
		case strings.Contains(tok.String(), s) || strings.Contains(tok.GoString(), s):
			t.Fatalf("printing %q shows the whole token: %s", s, tok.String())
		}
		again, err := Parse(tok.Bearer())
		if err != nil || again != tok {
			t.Fatalf("Parse(Bearer()) = %#v, %v; want %#v", again, err, tok)
		}
	})
}
