package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// MaxLineBytes bounds one exported line; records are far smaller.
const MaxLineBytes = 64 << 10

// AppendJSONL appends r as one JSON line.
func AppendJSONL(dst []byte, r *Record) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil {
		return dst, fmt.Errorf("audit: encode seq %d: %w", r.Seq, err)
	}
	dst = append(dst, b...)
	return append(dst, '\n'), nil
}

// ReadJSONL calls fn for each record of a JSON-lines stream, with its
// 1-based line number. A line that does not parse is reported to bad
// (which may return an error to stop), not to fn. Blank lines are skipped.
func ReadJSONL(r io.Reader, fn func(line int, rec *Record) error, bad func(line int, err error) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var rec Record
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		err := dec.Decode(&rec)
		if _, tail := dec.Token(); err == nil && tail != io.EOF {
			// A second value on the line would be read by other tools
			// but never verified.
			err = errors.New("trailing data after the record")
		}
		if err != nil {
			if err := bad(line, err); err != nil {
				return err
			}
			continue
		}
		if c := rec.Ceremony; c != nil && len(c.Approvers) == 0 {
			c.Approvers = nil // "approvers": [] and none mean the same, and hash the same
		}
		if err := fn(line, &rec); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("audit: read line %d: %w", line+1, err)
	}
	return nil
}

// VerifyJSONL verifies a JSON-lines export; see NewVerifier for pub and
// partial. The error names the first bad line and record.
func VerifyJSONL(r io.Reader, pub []byte, partial bool) (Report, error) {
	v := NewVerifier(pub, partial)
	err := ReadJSONL(r,
		func(line int, rec *Record) error { v.line = line - 1; return v.Add(rec) },
		func(line int, err error) error {
			v.line = line - 1
			return v.Bad(fmt.Sprintf("not a valid record: %v", err))
		})
	if err != nil {
		return Report{}, err
	}
	return v.Finish()
}
