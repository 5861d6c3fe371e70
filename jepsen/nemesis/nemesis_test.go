package nemesis

import (
	"errors"
	"slices"
	"testing"
)

func TestByNameTakesAList(t *testing.T) {
	fps, err := ByName("kill,pause,kill")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, fp := range fps {
		names = append(names, fp.Name())
	}
	if !slices.Equal(names, []string{"kill", "pause"}) {
		t.Fatalf("kill,pause,kill: %v", names)
	}
	for _, bad := range []string{"kill,flood", "kill,", "all,kill", "none,kill", ""} {
		if _, err := ByName(bad); !errors.Is(err, ErrUnknownNemesis) {
			t.Errorf("%q: %v, want ErrUnknownNemesis", bad, err)
		}
	}
}

// The links a partition reports cut are the ones its shape cuts, so the
// availability measure sees the same network the proxies made.
func TestShapeListsItsCutLinks(t *testing.T) {
	ids := nodes(3)
	cut := isolate("n2").links(ids)
	want := [][2]string{{"n1", "n2"}, {"n2", "n1"}, {"n2", "n3"}, {"n3", "n2"}}
	if !slices.Equal(cut, want) {
		t.Fatalf("isolate n2 cuts %v, want %v", cut, want)
	}
	if ring := majoritiesRing(ids).links(ids); len(ring) != 3 {
		t.Fatalf("one-way ring of 3 cuts %v, want 3 links", ring)
	}
}

// all draws membership changes too, each running one fault of the other
// four kinds while it goes on.
func TestAllChangesMembership(t *testing.T) {
	fps, err := ByName("all")
	if err != nil {
		t.Fatal(err)
	}
	var during []string
	for _, fp := range fps {
		if m, ok := fp.(Membership); ok {
			for _, d := range m.During {
				during = append(during, d.Name())
			}
		}
	}
	if len(fps) != 5 || !HasMembership(fps) || !slices.Equal(during, []string{"partition", "clock", "kill", "pause"}) {
		t.Fatalf("all: %d failpoints, membership during %v", len(fps), during)
	}
}
