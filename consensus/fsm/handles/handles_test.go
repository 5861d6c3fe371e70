package handles_test

import (
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
)

// A handle grants its key and purpose with its token until it expires,
// is used up or revoked; a wrong token reads as an unknown handle.
func TestAuthorize(t *testing.T) {
	tb := handles.Table{}
	proof := handles.TokenHash([]byte("token"))
	h := &handles.Handle{ID: "h", TokenHash: proof, Key: "k", Purpose: "sign", MaxUses: 1, Issued: 100}
	if err := tb.Issue(h, []string{"sign"}, 50, handles.Bounds{Max: 10, MaxTTL: 100}); err != nil {
		t.Fatal(err)
	}
	if _, err := tb.Authorize("h", proof, "k", "sign", 149); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	authorize := func(token, key, purpose string) error {
		_, err := tb.Authorize("h", handles.TokenHash([]byte(token)), key, purpose, 120)
		return err
	}
	for _, c := range []struct {
		name string
		err  error
	}{
		{"wrong token", authorize("x", "k", "")},
		{"other key", authorize("token", "other", "")},
		{"other purpose", authorize("token", "k", "wrap")},
	} {
		if !errors.Is(c.err, handles.ErrHandleDenied) {
			t.Errorf("%s: %v, want denied", c.name, c.err)
		}
	}
	if _, err := tb.Authorize("h", proof, "k", "", 150); !errors.Is(err, handles.ErrHandleDenied) {
		t.Errorf("at expiry: %v, want denied", err)
	}
	h.Uses = 1
	if err := authorize("token", "k", ""); !errors.Is(err, handles.ErrHandleDenied) {
		t.Errorf("used up: %v, want denied", err)
	}
	h.Uses = 0
	if _, err := tb.Revoke("h"); err != nil {
		t.Fatal(err)
	}
	if err := authorize("token", "k", ""); !errors.Is(err, handles.ErrHandleDenied) {
		t.Errorf("revoked: %v, want denied", err)
	}
}
