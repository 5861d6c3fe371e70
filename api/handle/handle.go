// Package handle makes and reads keyquorum handle tokens.
//
// A token is "kqh_<id>_<secret>". The id (16 hex digits) names the
// replicated handle record; the secret (32 random bytes, base64url) proves
// possession. A cluster keeps only the token's proof, its SHA-256, so a
// client may make its own token and send just the id and the proof: the
// secret then never leaves the client, and a retried request can return
// the same handle.
package handle

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"strings"
)

const (
	prefix    = "kqh_"
	idLen     = 16
	secretLen = 32
	// MaxLen bounds a token's length, so a request's cost is known before
	// it is hashed.
	MaxLen = 128
)

// ErrMalformed is returned for a string that does not have a token's shape.
var ErrMalformed = errors.New("malformed handle: want kqh_<id>_<secret>")

// Token is a handle token. Bearer returns the whole token, secret
// included; String and GoString show only its id, so a token that reaches
// a log line or an error by accident does not leak.
type Token struct {
	id  string
	raw string
}

// New makes a token with a fresh id and secret from crypto/rand.
func New() (Token, error) {
	var id [idLen / 2]byte
	var secret [secretLen]byte
	if _, err := rand.Read(id[:]); err != nil {
		return Token{}, err
	}
	if _, err := rand.Read(secret[:]); err != nil {
		return Token{}, err
	}
	t := Token{id: hex.EncodeToString(id[:])}
	t.raw = prefix + t.id + "_" + base64.RawURLEncoding.EncodeToString(secret[:])
	clear(secret[:])
	return t, nil
}

// Parse checks s's shape. It says nothing about whether a cluster knows
// the token: only the replicated record decides that.
func Parse(s string) (Token, error) {
	rest, ok := strings.CutPrefix(s, prefix)
	id, secret, ok2 := strings.Cut(rest, "_")
	if !ok || !ok2 || len(s) > MaxLen || !ValidID(id) || secret == "" || strings.Trim(secret, base64URL) != "" {
		return Token{}, ErrMalformed
	}
	return Token{id: id, raw: s}, nil
}

// base64URL is the alphabet of a secret.
const base64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

// LooksLike reports whether s is meant as a whole token rather than an id.
func LooksLike(s string) bool { return strings.HasPrefix(s, prefix) }

// ValidID reports whether id has a handle id's shape.
func ValidID(id string) bool {
	if len(id) != idLen {
		return false
	}
	_, err := hex.DecodeString(id)
	return err == nil
}

// ID returns the token's public id.
func (t Token) ID() string { return t.id }

// Bearer returns the whole token, secret included: what a Sign request
// presents.
func (t Token) Bearer() string { return t.raw }

// String names the token without its secret.
func (t Token) String() string { return prefix + t.id + "_<secret>" }

// GoString names the token without its secret, for %#v.
func (t Token) GoString() string { return "handle.Token(" + t.String() + ")" }

// Proof returns what a cluster stores and compares in place of the token.
func (t Token) Proof() [32]byte { return Proof(t.raw) }

// Proof returns the SHA-256 of a token: what the replicated log carries in
// its place.
func Proof(token string) [32]byte { return sha256.Sum256([]byte(token)) }
