package shred

import (
	"slices"
	"testing"
)

// TestDirtyKeysStartFullThenTakeWhatWasMarked: the first pass looks at
// every key (a restart saw no entries), later passes at the keys marked
// since, each once, until a full pass is asked for again.
func TestDirtyKeysStartFullThenTakeWhatWasMarked(t *testing.T) {
	d := newDirtyKeys()
	if _, all := d.take(); !all {
		t.Fatal("the first pass must look at every key")
	}
	d.mark("b")
	d.requeue("a")
	d.mark("b")
	keys, all := d.take()
	slices.Sort(keys)
	if all || !slices.Equal(keys, []string{"a", "b"}) {
		t.Fatalf("take = %v, all %v; want [a b] only", keys, all)
	}
	if keys, all := d.take(); all || len(keys) != 0 {
		t.Fatalf("a second take = %v, all %v; want nothing", keys, all)
	}
	d.wakeAll()
	if _, all := d.take(); !all {
		t.Fatal("wakeAll must ask for a full pass")
	}
}
