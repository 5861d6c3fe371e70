package client_test

import (
	"crypto/ed25519"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// TestJWTEdDSAVerifiesWithJWX: lestrrat-go/jwx signs an EdDSA JWT through
// the Signer and verifies it with the key's public key.
func TestJWTEdDSAVerifiesWithJWX(t *testing.T) {
	s := signer(t, "ed")
	tok, err := jwt.NewBuilder().Issuer("keyquorum").Subject("alice").Audience([]string{"api"}).
		IssuedAt(time.Now()).Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), s))
	if err != nil {
		t.Fatal(err)
	}
	got, err := jwt.Parse(signed, jwt.WithKey(jwa.EdDSA(), s.Public().(ed25519.PublicKey)), jwt.WithIssuer("keyquorum"))
	if err != nil {
		t.Fatalf("jwx rejects the token: %v\n%s", err, signed)
	}
	if sub, _ := got.Subject(); sub != "alice" {
		t.Fatalf("subject %q", sub)
	}
	signed[len(signed)-3] ^= 1 // inside the signature's last bytes
	if _, err := jwt.Parse(signed, jwt.WithKey(jwa.EdDSA(), s.Public().(ed25519.PublicKey))); err == nil {
		t.Fatal("jwx accepted a tampered signature")
	}
}
