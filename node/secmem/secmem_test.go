package secmem_test

import (
	"math/big"
	"runtime"
	"testing"

	"github.com/keyquorum/keyquorum/node/secmem"
)

// TestRegionWipesOnceItsIntegersAreUnreachable: the words handed out for
// an integer hold its value while it is reachable; once every integer of
// a region is gone its chunk comes back zeroed, and is reused.
func TestRegionWipesOnceItsIntegersAreUnreachable(t *testing.T) {
	m := secmem.New(nil, "test secrets")
	r := m.Region()
	x, y := new(big.Int), new(big.Int)
	for _, v := range []*big.Int{x, y} {
		w := r.Words(v, 4)
		for i := range w {
			w[i] = big.Word(i + 1)
		}
		v.SetBits(w)
	}
	runtime.GC()
	if x.Sign() == 0 || y.Sign() == 0 {
		t.Fatal("an integer still reachable was wiped")
	}
	runtime.KeepAlive(x)
	x = nil
	if m.Reclaimed(1) {
		t.Fatal("the chunk came back while an integer placed in it was reachable")
	}
	if y.Sign() == 0 {
		t.Fatal("one integer's cleanup wiped another's words")
	}
	runtime.KeepAlive(y)
	y = nil
	if !m.Reclaimed(1) {
		t.Fatal("the region's chunk was not zeroed and returned once its integers were gone")
	}
	r = m.Region()
	z := new(big.Int)
	r.Words(z, 4)
	if m.Reclaimed(1) {
		t.Fatal("a new region did not reuse the free chunk")
	}
	runtime.KeepAlive(z)
}
