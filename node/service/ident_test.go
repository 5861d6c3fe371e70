package service

import (
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// badIdents are the byte classes every client-chosen identifier refuses,
// each with the words the error must use to say what is wrong.
var badIdents = []struct {
	name, value, says string
}{
	{"NUL", "req\x00id", "control character"},
	{"LF", "req\nid", "control character"},
	{"ESC", "req\x1b[31mid", "control character"},
	{"DEL", "req\x7fid", "DEL"},
	{"space", "req id", "space"},
	{"non-ASCII", "req-caf\u00e9", "not ASCII"},
}

func TestIdentifiersAreVisibleASCIIAndBounded(t *testing.T) {
	checks := []struct {
		field string
		max   int
		check func(string) error
	}{
		{"request_id", maxRequestIDLen, func(v string) error { _, err := requestID(v); return err }},
		{"purpose", maxPurposeLen, func(v string) error { return checkPurpose("purpose", v) }},
		{"purposes[0]", maxPurposeLen, func(v string) error { return checkPurposes([]string{v}) }},
		{"key name", 64, checkName},
	}
	for _, c := range checks {
		for _, b := range badIdents {
			err := c.check(b.value)
			msg := status.Convert(err).Message()
			if status.Code(err) != codes.InvalidArgument || !strings.Contains(msg, c.field) || !strings.Contains(msg, b.says) {
				t.Errorf("%s with %s: got %v, want INVALID_ARGUMENT naming %q and saying %q", c.field, b.name, err, c.field, b.says)
			}
			if strings.ContainsAny(msg, "\x00\n\x1b\x7f") {
				t.Errorf("%s with %s: the error repeats the raw bytes: %q", c.field, b.name, msg)
			}
		}
		long := strings.Repeat("a", c.max+1)
		if err := c.check(long); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), c.field) {
			t.Errorf("%s of %d bytes: %v", c.field, len(long), err)
		}
		if err := c.check(strings.Repeat("a", c.max)); err != nil {
			t.Errorf("%s of exactly %d bytes refused: %v", c.field, c.max, err)
		}
	}
	if _, err := requestID("a#b"); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "request_id") {
		t.Errorf("request id with '#': %v", err)
	}
	if err := checkPurposes([]string{"sign", ""}); status.Code(err) != codes.InvalidArgument || !strings.Contains(err.Error(), "purposes[1]") {
		t.Errorf("empty purpose in a list: %v", err)
	}
	if err := checkPurpose("purpose", ""); err != nil {
		t.Errorf("an empty purpose means the default: %v", err)
	}
}

func TestGeneratedAndUsualIdentifiersPass(t *testing.T) {
	auto, err := requestID("")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{
		auto,                               // made here for a request without one
		"0123456789abcdef0123456789abcdef", // kq's newRequestID: 128 bits in hex
		"create-ec", "s-1", "client:alice/op-7", "r2", `printable!"$%&'()*+,-./:;<=>?@[\]^_{|}~`,
	} {
		if _, err := requestID(id); err != nil {
			t.Errorf("request id %q refused: %v", id, err)
		}
	}
	for _, p := range []string{"sign", "attest", "payments.eu-1"} {
		if err := checkPurpose("purpose", p); err != nil {
			t.Errorf("purpose %q refused: %v", p, err)
		}
	}
}
