package nemesis

import (
	"fmt"
	"testing"
)

func nodes(n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("n%d", i+1)
	}
	return ids
}

// reach counts the nodes a can talk to both ways, itself included.
func reach(sh shape, ids []string, a string) int {
	n := 1
	for _, b := range ids {
		if a != b && !sh.cut(a, b) && !sh.cut(b, a) {
			n++
		}
	}
	return n
}

func TestHalvesLeaveOneMajority(t *testing.T) {
	for _, n := range []int{3, 5} {
		ids := nodes(n)
		sh := halves(ids)
		majorities := 0
		for _, id := range ids {
			if reach(sh, ids, id) > n/2 {
				majorities++
			}
		}
		if majorities != n-n/2 {
			t.Fatalf("%d nodes, %s: %d nodes in a majority, want %d", n, sh.name, majorities, n-n/2)
		}
	}
}

func TestMajoritiesRingGivesEveryNodeADifferentMajority(t *testing.T) {
	ids := nodes(5)
	sh := majoritiesRing(ids)
	seen := map[string]bool{}
	for _, a := range ids {
		if r := reach(sh, ids, a); r != 3 {
			t.Fatalf("%s reaches %d nodes, want 3", a, r)
		}
		view := ""
		for _, b := range ids {
			if a == b || !sh.cut(a, b) {
				view += b
			}
		}
		if seen[view] {
			t.Fatalf("two nodes share the majority %s", view)
		}
		seen[view] = true
	}
	// Three nodes: each dials exactly one peer.
	ids = nodes(3)
	sh = majoritiesRing(ids)
	for _, a := range ids {
		dials := 0
		for _, b := range ids {
			if a != b && !sh.cut(a, b) {
				dials++
			}
		}
		if dials != 1 {
			t.Fatalf("3-node ring: %s dials %d peers, want 1", a, dials)
		}
	}
}

func TestBridgeJoinsTwoSidesThroughOneNode(t *testing.T) {
	ids := nodes(5)
	sh := bridge(ids)
	if reach(sh, ids, ids[0]) != 5 {
		t.Fatalf("the bridge %s does not reach everyone", ids[0])
	}
	for _, id := range ids[1:] {
		if r := reach(sh, ids, id); r != 3 {
			t.Fatalf("%s reaches %d nodes, want 3 (its side and the bridge)", id, r)
		}
	}
}

func TestIsolateCutsEveryLinkOfOneNode(t *testing.T) {
	ids := nodes(3)
	sh := isolate("n2")
	if reach(sh, ids, "n2") != 1 || reach(sh, ids, "n1") != 2 {
		t.Fatalf("isolate: n2 reaches %d, n1 reaches %d", reach(sh, ids, "n2"), reach(sh, ids, "n1"))
	}
}

func TestByNameKnowsEveryNemesis(t *testing.T) {
	for name, want := range map[string]int{"none": 0, "partition": 1, "clock": 1, "kill": 1, "pause": 1, "membership": 1, "all": 5} {
		fps, err := ByName(name)
		if err != nil || len(fps) != want {
			t.Fatalf("%s: %d failpoints, %v", name, len(fps), err)
		}
	}
	if _, err := ByName("flood"); err == nil {
		t.Fatal("unknown nemesis accepted")
	}
}
