package sealing

import (
	"fmt"
	"io"
	"log/slog"
)

// Secret-holding types print as a fixed placeholder under every fmt verb
// (%d or %x on a struct would otherwise dump the key bytes) and in slog.

// Format implements fmt.Formatter.
func (e *Envelope) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, e.String()) }

// LogValue implements slog.LogValuer.
func (e *Envelope) LogValue() slog.Value { return slog.StringValue(e.String()) }

// String redacts the key and names the backend.
func (t *TPM) String() string { return "sealing.TPM{backend:" + t.backend + ", KEK:REDACTED}" }

// GoString redacts the key under %#v.
func (t *TPM) GoString() string { return t.String() }

// Format implements fmt.Formatter.
func (t *TPM) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, t.String()) }

// LogValue implements slog.LogValuer.
func (t *TPM) LogValue() slog.Value { return slog.StringValue(t.String()) }
