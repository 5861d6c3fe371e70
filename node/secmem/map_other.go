//go:build !linux

package secmem

import "errors"

// mapSecret has no protected pages to offer outside Linux; the caller logs
// the error once and uses the heap.
func mapSecret(n int) ([]byte, bool, error) {
	return make([]byte, n), false, errors.New("not implemented on this platform")
}
