package handle

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
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
	if a.ID() == b.ID() || a.Bearer() == b.Bearer() {
		t.Fatalf("two fresh tokens collide: %s, %s", a.ID(), b.ID())
	}
	p, err := Parse(a.Bearer())
	if err != nil || p != a {
		t.Fatalf("Parse(New()) = %v, %v", p.ID(), err)
	}
	if a.Proof() != sha256.Sum256([]byte(a.Bearer())) || a.Proof() != Proof(a.Bearer()) {
		t.Fatal("a token's proof is not the SHA-256 of the whole token")
	}
	if !ValidID(a.ID()) || !LooksLike(a.Bearer()) || LooksLike(a.ID()) {
		t.Fatalf("id %q or token shape not recognised", a.ID())
	}
}

// A token printed by accident, in any of the usual ways, shows its id and
// never its secret.
func TestPrintingATokenHidesItsSecret(t *testing.T) {
	tok, err := New()
	if err != nil {
		t.Fatal(err)
	}
	secret := tok.Bearer()[len(prefix)+idLen+1:]
	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("issued", "token", tok)
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("issued", "token", tok)
	for _, out := range []string{fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v %s %q", tok, tok, tok, tok, tok),
		fmt.Errorf("wrapped: %v", tok).Error(), logged.String()} {
		if strings.Contains(out, secret) {
			t.Errorf("secret printed: %s", out)
		}
		if !strings.Contains(out, tok.ID()) {
			t.Errorf("printed token does not name its id: %s", out)
		}
	}
}

func TestParseRefusesWhatIsNotAToken(t *testing.T) {
	for _, s := range []string{
		"",
		"kqh_",
		"kqh_0123456789abcdef",          // no secret
		"kqh_0123456789abcdef_",         // empty secret
		"kqh_0123456789abcde_secret",    // short id
		"kqh_0123456789abcdeg_secret",   // id not hex
		"kqx_0123456789abcdef_secret",   // prefix
		"kqh_0123456789abcdef_<secret>", // a printed token, secret left out
		"kqh_0123456789abcdef_sec ret",  // not base64url
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
