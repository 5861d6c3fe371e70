package main

import (
	"strings"
	"testing"
)

func TestCheckRefusesWhatReadsTheMachine(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string // substrings of the findings, in order
	}{
		{"pure", `package p
import ("time"; "errors")
func f(stamp int64) (time.Time, error) { return time.Unix(0, stamp), errors.New("x") }`, nil},
		{"os and rand", `package p
import ("os"; "math/rand"; crand "crypto/rand"; r2 "math/rand/v2"; "net")
var _, _, _, _, _ = os.Args, rand.Int, crand.Reader, r2.Int, net.IPv4len`,
			[]string{"imports os", "imports math/rand", "imports crypto/rand", "imports math/rand/v2", "imports net"}},
		{"clock", `package p
import "time"
func f() { _ = time.Now(); _ = time.Since(time.Time{}); g := time.Until; _ = g }`,
			[]string{"uses time.Now", "uses time.Since", "uses time.Until"}},
		{"renamed time", `package p
import clock "time"
func f() { _ = clock.Now() }`, []string{"uses time.Now"}},
		{"a method named Now elsewhere", `package p
type c struct{}
func (c) Now() int { return 0 }
func f(x c) int { return x.Now() }`, nil},
	} {
		got, err := check(tc.name+".go", []byte(tc.src))
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: findings %q, want %d", tc.name, got, len(tc.want))
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i], w) || !strings.HasPrefix(got[i], tc.name+".go:") {
				t.Errorf("%s: finding %q, want %q with its position", tc.name, got[i], w)
			}
		}
	}
}
