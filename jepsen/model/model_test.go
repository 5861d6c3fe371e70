package model

import (
	"math"
	"testing"

	"github.com/anishathalye/porcupine"
)

const inf = math.MaxInt64

func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Call: call, Return: ret, Input: in, Output: out}
}

func create(name, rid string) Input {
	return Input{Kind: Create, Key: name, Algorithm: "ed25519", RequestID: rid}
}
func get(name string) Input { return Input{Kind: Get, Key: name} }
func list() Input           { return Input{Kind: List} }
func sign(name, digest, rid string) Input {
	return Input{Kind: Sign, Key: name, Digest: digest, RequestID: rid}
}

func active(name, pub string) Output {
	return Output{Status: OK, Key: KeyView{Name: name, State: Active, PublicKey: pub}}
}
func generating(name string) Output {
	return Output{Status: OK, Key: KeyView{Name: name, State: Generating}}
}
func status(s Status) Output        { return Output{Status: s} }
func sig(s string) Output           { return Output{Status: OK, Signature: s, Version: 1} }
func listed(keys ...KeyView) Output { return Output{Status: OK, Keys: keys} }

// history is a hand-written history and whether the model must find it
// linearizable.
type history struct {
	name         string
	linearizable bool
	ops          []porcupine.Operation
}

var histories = []history{
	{"create then get", true, []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 11, 12, get("k"), active("k", "P")),
	}},
	{"get misses a key created before it started", false, []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 11, 12, get("k"), status(NotFound)),
	}},
	{"get concurrent with create may miss it", true, []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 5, 12, get("k"), status(NotFound)),
	}},
	{"get sees another public key", false, []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 11, 12, get("k"), active("k", "Q")),
	}},
	{"state moves backwards", false, []porcupine.Operation{
		op(0, 0, 1, create("k", "c1"), status(Unknown)),
		op(1, 2, 3, get("k"), active("k", "P")),
		op(1, 4, 5, get("k"), generating("k")),
	}},
	{"unknown create may take effect later", true, []porcupine.Operation{
		op(0, 0, inf, create("k", "c1"), status(Unknown)),
		op(1, 5, 6, get("k"), status(NotFound)),
		op(1, 7, 8, get("k"), generating("k")),
		op(1, 9, 10, get("k"), active("k", "P")),
	}},
	{"unknown create that never took effect", true, []porcupine.Operation{
		op(0, 0, inf, create("k", "c1"), status(Unknown)),
		op(1, 5, 6, get("k"), status(NotFound)),
	}},
	{"create retried with its request id returns the key", true, []porcupine.Operation{
		op(0, 0, inf, create("k", "c1"), status(Unknown)),
		op(1, 5, 9, create("k", "c1"), active("k", "P")),
		op(2, 10, 11, create("k", "c2"), status(AlreadyExists)),
	}},
	{"second create of a name succeeds", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(1, 5, 9, create("k", "c2"), active("k", "Q")),
	}},
	{"already exists for a free name", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), status(AlreadyExists)),
	}},
	{"sign retried returns the same signature", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(0, 5, 6, sign("k", "d1", "s1"), sig("S1")),
		op(1, 7, 8, sign("k", "d1", "s1"), sig("S1")),
	}},
	{"sign retried returns another signature", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(0, 5, 6, sign("k", "d1", "s1"), sig("S1")),
		op(1, 7, 8, sign("k", "d1", "s1"), sig("S2")),
	}},
	{"unknown sign, then a retry learns the signature", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(0, 5, inf, sign("k", "d1", "s1"), status(Unknown)),
		op(1, 7, 8, sign("k", "d1", "s1"), sig("S1")),
		op(2, 9, 10, sign("k", "d1", "s1"), sig("S1")),
	}},
	{"request id reused with another digest is refused", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(0, 5, 6, sign("k", "d1", "s1"), sig("S1")),
		op(1, 7, 8, sign("k", "d2", "s1"), status(AlreadyExists)),
	}},
	{"request id reused with another digest signs", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(0, 5, 6, sign("k", "d1", "s1"), sig("S1")),
		op(1, 7, 8, sign("k", "d2", "s1"), sig("S2")),
	}},
	{"sign with a key nobody created", false, []porcupine.Operation{
		op(0, 0, 1, sign("k", "d1", "s1"), sig("S1")),
	}},
	{"sign refused as not active after the key was active", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), active("k", "P")),
		op(1, 5, 6, sign("k", "d1", "s1"), status(FailedPrecondition)),
	}},
	{"sign refused while generating", true, []porcupine.Operation{
		op(0, 0, inf, create("k", "c1"), status(Unknown)),
		op(1, 5, 6, sign("k", "d1", "s1"), status(FailedPrecondition)),
		op(1, 7, 8, get("k"), active("k", "P")),
		op(1, 9, 10, sign("k", "d1", "s1"), sig("S1")),
	}},
	{"list sees created keys", true, []porcupine.Operation{
		op(0, 0, 4, create("a", "c1"), active("a", "P")),
		op(0, 5, 9, create("b", "c2"), active("b", "Q")),
		op(1, 10, 11, list(), listed(KeyView{Name: "a", State: Active, PublicKey: "P"}, KeyView{Name: "b", State: Active, PublicKey: "Q"})),
	}},
	{"list misses an acknowledged key", false, []porcupine.Operation{
		op(0, 0, 4, create("a", "c1"), active("a", "P")),
		op(0, 5, 9, create("b", "c2"), active("b", "Q")),
		op(1, 10, 11, list(), listed(KeyView{Name: "a", State: Active, PublicKey: "P"})),
	}},
	{"list shows a key nobody created", false, []porcupine.Operation{
		op(1, 10, 11, list(), listed(KeyView{Name: "ghost", State: Generating, PublicKey: ""})),
	}},
	{"unknown outcomes of every kind allow anything", true, []porcupine.Operation{
		op(0, 0, inf, create("a", "c1"), status(Unknown)),
		op(1, 1, inf, get("a"), status(Unknown)),
		op(2, 2, inf, list(), status(Unknown)),
		op(3, 3, inf, sign("a", "d", "s"), status(Unknown)),
	}},
}

// check wants the model to judge h as h says, whole and with its
// creates and rotations split.
func (h history) check(t *testing.T) {
	t.Helper()
	if got := porcupine.CheckOperations(Keys(), h.ops); got != h.linearizable {
		t.Fatalf("linearizable = %v, want %v", got, h.linearizable)
	}
	if got := porcupine.CheckOperations(Keys(), Split(h.ops)); got != h.linearizable {
		t.Fatalf("split: linearizable = %v, want %v", got, h.linearizable)
	}
}

func TestModelHandWrittenHistories(t *testing.T) {
	for _, h := range histories {
		t.Run(h.name, func(t *testing.T) {
			h.check(t)
		})
	}
}

// A read during CreateKey may see the key still generating; only split
// creates model that, and the split must still catch a stale read after
// the create returned.
func TestSplitAllowsGeneratingDuringTheCall(t *testing.T) {
	during := []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 2, 3, get("k"), generating("k")),
		op(1, 4, 5, get("k"), active("k", "P")),
	}
	if !porcupine.CheckOperations(Keys(), Split(during)) {
		t.Fatal("generating seen during the create: not linearizable with creates split")
	}
	after := append(during, op(1, 11, 12, get("k"), generating("k")))
	if porcupine.CheckOperations(Keys(), Split(after)) {
		t.Fatal("generating seen after the create returned active: linearizable")
	}
	retried := []porcupine.Operation{
		op(0, 0, 10, create("k", "c1"), active("k", "P")),
		op(1, 11, 12, create("k", "c1"), active("k", "P")),
		op(1, 13, 14, create("k", "c1"), active("k", "Q")),
	}
	if porcupine.CheckOperations(Keys(), Split(retried)) {
		t.Fatal("a retried create returned another public key: linearizable")
	}
}

// The partition is only an optimisation: without it every verdict must be
// the same, whole Lists included.
func TestPartitionDoesNotChangeVerdicts(t *testing.T) {
	m := Keys()
	m.Partition = nil
	for _, h := range histories {
		if got := porcupine.CheckOperations(m, h.ops); got != h.linearizable {
			t.Errorf("%s: unpartitioned linearizable = %v, want %v", h.name, got, h.linearizable)
		}
	}
}

func TestPartitionProjectsListsOntoKeys(t *testing.T) {
	ops := []porcupine.Operation{
		op(0, 0, 4, create("a", "c1"), active("a", "P")),
		op(1, 5, 6, list(), listed(KeyView{Name: "a", State: Active, PublicKey: "P"})),
		op(0, 7, 9, create("b", "c2"), active("b", "Q")),
		op(1, 10, 11, list(), status(Unknown)),
	}
	parts := Partition(ops)
	if len(parts) != 2 {
		t.Fatalf("%d partitions, want 2 (a, b)", len(parts))
	}
	// a: create + projected list; b: create only (the first list returned
	// before b was asked for, the second has an unknown outcome).
	if len(parts[0]) != 2 || len(parts[1]) != 1 {
		t.Fatalf("partition sizes %d, %d; want 2, 1", len(parts[0]), len(parts[1]))
	}
	if in := parts[0][1].Input.(Input); in.Kind != List || in.Key != "a" || !parts[0][1].Output.(Output).Found {
		t.Fatalf("projected list = %+v %+v", in, parts[0][1].Output)
	}
}
