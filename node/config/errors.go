package config

import (
	"errors"
	"fmt"
)

// ErrInvalid is wrapped by every FieldError: the configuration is malformed
// or violates a rule. Test for it with errors.Is.
var ErrInvalid = errors.New("config: invalid cluster configuration")

// FieldError is one problem in a configuration, located by field path and,
// when the configuration came from a file, by line.
type FieldError struct {
	File  string // name given to Parse or Load; empty for built values
	Line  int    // 1-based; 0 when unknown
	Field string // path such as "nodes[1].raft"; empty for the whole document
	Msg   string
}

// Error formats the problem as "file:line: field: message", leaving out the
// parts that are unknown.
func (e *FieldError) Error() string {
	var s string
	switch {
	case e.File != "" && e.Line > 0:
		s = fmt.Sprintf("%s:%d: ", e.File, e.Line)
	case e.File != "":
		s = e.File + ": "
	default:
		s = "config: "
	}
	if e.Field != "" {
		s += e.Field + ": "
	}
	return s + e.Msg
}

// Unwrap returns ErrInvalid.
func (e *FieldError) Unwrap() error { return ErrInvalid }
