package keys_test

import (
	"errors"
	"reflect"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm/fsmerr"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
)

// active returns a key whose first version every member stored.
func active(t *testing.T) *keys.Key {
	t.Helper()
	k := keys.New(&keys.Spec{Name: "k", RequestID: "r", Algorithm: "ed25519", Threshold: 1, Members: []string{"n2", "n1"}}, keys.At{Index: 1, Time: 10})
	v, err := k.Generating(1)
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range k.Members {
		if _, err := k.StoreShare(v, n, []byte("pub")); err != nil {
			t.Fatal(err)
		}
	}
	if k.Primary != 1 || v.State != keys.Active {
		t.Fatalf("first version is %s with primary %d, want active and primary", v.State, k.Primary)
	}
	return k
}

// A rotation's version is staged, a promotion makes it primary and opens
// the dual-sign window, and retiring the old primary closes the window.
func TestRotatePromoteRetire(t *testing.T) {
	k := active(t)
	n, err := k.Rotate(keys.At{Index: 2, Time: 20}, "r2", 0, nil)
	if err != nil || n != 2 {
		t.Fatalf("rotate: %d, %v", n, err)
	}
	v2, _ := k.Generating(2)
	for _, m := range k.Members {
		if _, err := k.StoreShare(v2, m, []byte("pub2")); err != nil {
			t.Fatal(err)
		}
	}
	if v2.State != keys.Staged || k.Primary != 1 {
		t.Fatalf("rotated version is %s, primary %d; want staged beside primary 1", v2.State, k.Primary)
	}
	if n, err := k.Promote(0, 5, 30); err != nil || n != 2 || k.DualSign == nil || k.DualSign.Until != 35 {
		t.Fatalf("promote: %d, %v, window %+v", n, err, k.DualSign)
	}
	if k.DualVersion(0, 34) != 1 || k.DualVersion(0, 35) != 0 {
		t.Fatal("the window's version co-signs until, and not at, its end")
	}
	if _, err := k.Retire(1); err != nil || k.DualSign != nil {
		t.Fatalf("retire: %v, window %+v", err, k.DualSign)
	}
}

// Every refused change leaves the key as it was.
func TestRefusedChangesChangeNothing(t *testing.T) {
	k := active(t)
	before := k.Clone()
	minSign := uint32(9)
	for name, err := range map[string]error{
		"rotate with a version": func() error { _, err := k.Rotate(keys.At{}, "r", 1, nil); return err }(),
		"promote the primary":   func() error { _, err := k.Promote(1, 0, 0); return err }(),
		"rollback below v1":     func() error { _, err := k.Rollback(0); return err }(),
		"floor past the newest": k.SetFloors(0, &minSign, nil, nil),
		"destroy while denied":  func() error { _, err := k.ScheduleDestroy(1, 10, 1, 0); return err }(),
		"cancel nothing":        func() error { _, err := k.CancelDestroy(1); return err }(),
		"refresh a bad committee": func() error {
			_, err := k.Refresh(keys.At{}, "r", 0, []string{"n1", "n1"}, nil)
			return err
		}(),
	} {
		if !errors.Is(err, fsmerr.ErrInvalidCommand) && !errors.Is(err, fsmerr.ErrBadTransition) {
			t.Errorf("%s: %v, want a refusal", name, err)
		}
	}
	if !reflect.DeepEqual(k, before) {
		t.Fatalf("refused changes changed the key:\n%+v\n%+v", k, before)
	}
}

// A reshare to other holders switches them only when the last new holder
// confirmed, and leaves the old ones as former holders until they shred.
func TestReshareSwitchesHoldersOnTheLastConfirmation(t *testing.T) {
	k := active(t)
	r := &keys.Reshare{RequestID: "rs", Members: []string{"n1", "n3"}, Threshold: 1, Committee: []string{"n1", "n2"}}
	if _, _, err := k.Reshare(keys.At{Index: 5}, r, func(string) bool { return true }, nil); err != nil {
		t.Fatal(err)
	}
	v, err := k.Refreshing(1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if switched, _, err := k.ConfirmRefresh(6, v, "n1", []byte("pub")); switched || err != nil {
		t.Fatalf("first confirmation: switched %v, %v", switched, err)
	}
	if switched, _, err := k.ConfirmRefresh(7, v, "n3", []byte("pub")); !switched || err != nil {
		t.Fatalf("last confirmation: switched %v, %v", switched, err)
	}
	if !reflect.DeepEqual(k.Members, []string{"n1", "n3"}) || v.Epoch != 1 || !k.Unshredded("n2") {
		t.Fatalf("after the switch: holders %v, epoch %d, former %+v", k.Members, v.Epoch, k.Former)
	}
	if dup, err := k.ShredFormer("n2"); dup || err != nil || k.Unshredded("n2") {
		t.Fatalf("shred: %v, %v", dup, err)
	}
}
