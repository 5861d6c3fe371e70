package service

import (
	"fmt"
	"strings"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// maxRequestIDLen bounds a client's request id.
const maxRequestIDLen = 128

// maxPurposeLen bounds a purpose, like a key name: purposes are printed in
// tables, audit records and metric labels.
const maxPurposeLen = 64

// identCharset says in words which bytes an identifier may hold.
const identCharset = "visible ASCII ('!' to '~': no spaces, control characters, DEL or non-ASCII)"

// CheckIdent is the one check for identifiers a client chooses: request
// ids, purposes, and (through their stricter patterns) key names and handle
// ids. They reach logs, audit records, metric labels, error messages and
// terminals, so they are refused here, once, unless they are 1 to max
// bytes of visible ASCII with none of the bytes in forbid; no consumer has
// to escape them. The error is INVALID_ARGUMENT and names the field and
// the offending byte's position and value, never the value itself, which
// could carry terminal escapes.
func CheckIdent(field, v string, max int, forbid string) error {
	if v == "" {
		return status.Errorf(codes.InvalidArgument, "%s is empty", field)
	}
	if len(v) > max {
		return status.Errorf(codes.InvalidArgument, "%s is %d bytes, longer than %d", field, len(v), max)
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		if c < '!' || c > '~' {
			return status.Errorf(codes.InvalidArgument, "%s: byte %d is %s; use %s", field, i, describeByte(c), identCharset)
		}
		if strings.IndexByte(forbid, c) >= 0 {
			return status.Errorf(codes.InvalidArgument, "%s may not contain %q", field, c)
		}
	}
	return nil
}

// describeByte names a refused byte without printing it.
func describeByte(c byte) string {
	switch {
	case c == ' ':
		return "a space"
	case c == 0x7f:
		return "0x7f (DEL)"
	case c >= 0x80:
		return fmt.Sprintf("0x%02x (not ASCII)", c)
	default:
		return fmt.Sprintf("0x%02x (a control character)", c)
	}
}

// checkPurpose checks one purpose a request names; empty means the
// default and is allowed.
func checkPurpose(field, p string) error {
	if p == "" {
		return nil
	}
	return CheckIdent(field, p, maxPurposeLen, "")
}

// checkPurposes checks a key's list of purposes; each must be non-empty.
func checkPurposes(ps []string) error {
	for i, p := range ps {
		if err := CheckIdent(fmt.Sprintf("purposes[%d]", i), p, maxPurposeLen, ""); err != nil {
			return err
		}
	}
	return nil
}
