// Package strictjson decodes the JSON the state machine reads (entries,
// snapshots, ceremony params and policy documents) strictly: a field
// this build does not know, or trailing data, is an error, so nothing a
// newer build wrote is half-read.
package strictjson

import (
	"bytes"
	"encoding/json"
	"errors"
)

// Decode decodes one JSON value into v, refusing unknown fields and
// trailing data.
func Decode(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if dec.More() {
		return errors.New("trailing data after the JSON value")
	}
	return nil
}
