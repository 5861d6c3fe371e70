package handle

import (
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestNewTokensParseBackAndDiffer(t *testing.T) {
	a, err := New()
	if err != nil {
		t.Fatal(err)
	}
	b, err := New()
	if err != nil {
		t.Fatal(err)
	}
	if a.ID() == b.ID() || a.String() == b.String() {
		t.Fatalf("two fresh tokens collide: %s, %s", a.ID(), b.ID())
	}
	p, err := Parse(a.String())
	if err != nil || p != a {
		t.Fatalf("Parse(New()) = %v, %v", p.ID(), err)
	}
	if a.Proof() != sha256.Sum256([]byte(a.String())) || a.Proof() != Proof(a.String()) {
		t.Fatal("a token's proof is not the SHA-256 of the whole token")
	}
	if !ValidID(a.ID()) || !LooksLike(a.String()) || LooksLike(a.ID()) {
		t.Fatalf("id %q or token shape not recognised", a.ID())
	}
}

func TestParseRefusesWhatIsNotAToken(t *testing.T) {
	for _, s := range []string{
		"",
		"kqh_",
		"kqh_0123456789abcdef",        // no secret
		"kqh_0123456789abcdef_",       // empty secret
		"kqh_0123456789abcde_secret",  // short id
		"kqh_0123456789abcdeg_secret", // id not hex
		"kqx_0123456789abcdef_secret", // prefix
		"kqh_0123456789abcdef_" + strings.Repeat("s", MaxLen),
	} {
		if _, err := Parse(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("Parse(%q) = %v, want ErrMalformed", s, err)
		}
	}
	// The secret's base64url alphabet includes '_': it is not a separator.
	if _, err := Parse("kqh_0123456789abcdef_se_cr_et"); err != nil {
		t.Errorf("secret with '_': %v", err)
	}
}
