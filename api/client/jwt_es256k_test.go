//go:build jwx_es256k

package client_test

import (
	"crypto/ecdsa"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// TestJWTES256KVerifiesWithJWX: jwx signs an ES256K JWT through the secp256k1
// Signer (its *ecdsa.PublicKey view) and verifies it. jwx supports ES256K
// only when built with -tags jwx_es256k.
func TestJWTES256KVerifiesWithJWX(t *testing.T) {
	s := signer(t, "ec")
	tok, err := jwt.NewBuilder().Issuer("keyquorum").Subject("bob").Expiration(time.Now().Add(time.Hour)).Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.ES256K(), s.AsECDSA()))
	if err != nil {
		t.Fatal(err)
	}
	pub := s.AsECDSA().Public().(*ecdsa.PublicKey)
	if _, err := jwt.Parse(signed, jwt.WithKey(jwa.ES256K(), pub)); err != nil {
		t.Fatalf("jwx rejects the token: %v\n%s", err, signed)
	}
	signed[len(signed)-3] ^= 1
	if _, err := jwt.Parse(signed, jwt.WithKey(jwa.ES256K(), pub)); err == nil {
		t.Fatal("jwx accepted a tampered signature")
	}
}
