package tss_test

import (
	"bytes"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
)

func TestCheckMessageBoundsEachAlgorithm(t *testing.T) {
	cases := []struct {
		alg tss.Algorithm
		msg []byte
		ok  bool
	}{
		{tss.ECDSASecp256k1, make([]byte, 32), true},
		{tss.ECDSASecp256k1, append([]byte{0}, bytes.Repeat([]byte{0xff}, 31)...), true},
		{tss.ECDSASecp256k1, make([]byte, 31), false},
		{tss.ECDSASecp256k1, make([]byte, 33), false},
		{tss.ECDSASecp256k1, bytes.Repeat([]byte{0xff}, 32), false}, // above the group order
		{tss.Ed25519, []byte{0}, true},
		{tss.Ed25519, make([]byte, tss.MaxEd25519Message), true},
		{tss.Ed25519, nil, false},
		{tss.Ed25519, make([]byte, tss.MaxEd25519Message+1), false},
	}
	for _, c := range cases {
		if err := tss.CheckMessage(c.alg, c.msg); (err == nil) != c.ok {
			t.Errorf("%v, %d bytes: err=%v, want ok=%v", c.alg, len(c.msg), err, c.ok)
		}
	}
}
