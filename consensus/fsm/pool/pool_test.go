package pool_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/pool"
)

// A commitment is consumed once: the second request naming it finds
// nothing, and a refused consume takes none of the others.
func TestCommitmentsAreConsumedOnce(t *testing.T) {
	k := &keys.Key{Name: "k", Algorithm: "ed25519", Threshold: 1, Members: []string{"n1", "n2"}, Primary: 1,
		Versions: []*keys.Version{{Number: 1, State: keys.Active}}}
	cs := pool.Commitments{}
	boots := map[string]string{"n1": "b1", "n2": "b2"}
	for _, m := range k.Members {
		r := &pool.Report{Key: k, Version: 1, Node: m, Boot: boots[m], Current: boots[m], Index: 3,
			IDs: []string{m + "-c"}, Commitments: [][]byte{bytes.Repeat([]byte{1}, pool.FrostCommitmentSize)}}
		if err := cs.Publish(r); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cs.Consume([]string{"n2-c", "n1-c"}, k.Members, "k", 1, 0, boots); !errors.Is(err, pool.ErrFrostUnavailable) || len(cs) != 2 {
		t.Fatalf("commitments out of committee order: %v, %d left", err, len(cs))
	}
	if used, err := cs.Consume([]string{"n1-c", "n2-c"}, k.Members, "k", 1, 0, boots); err != nil || len(used) != 2 || len(cs) != 0 {
		t.Fatalf("consume: %v, %d used, %d left", err, len(used), len(cs))
	}
	if _, err := cs.Consume([]string{"n1-c", "n2-c"}, k.Members, "k", 1, 0, boots); !errors.Is(err, pool.ErrFrostUnavailable) {
		t.Fatalf("second consume: %v", err)
	}
}
