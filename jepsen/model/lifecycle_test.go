package model

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

func ver(n uint32, st KeyState, pub string) VersionView {
	return VersionView{Number: n, State: st, PublicKey: pub}
}

// view is a key as the client records it: versions, primary, and the
// current version's state and public key on top.
func view(name string, primary uint32, vs ...VersionView) KeyView {
	cur := vs[max(primary, 1)-1]
	return KeyView{Name: name, State: cur.State, PublicKey: cur.PublicKey, Primary: primary, Versions: vs}
}

func keyIs(name string, primary uint32, vs ...VersionView) Output {
	return Output{Status: OK, Key: view(name, primary, vs...)}
}

func req(kind Kind, name string, version uint32, rid string) Input {
	return Input{Kind: kind, Key: name, Version: version, RequestID: rid}
}

func signAt(name, digest, rid string, version uint32) Input {
	return Input{Kind: Sign, Key: name, Digest: digest, RequestID: rid, Version: version}
}

func sigBy(s string, version uint32) Output {
	return Output{Status: OK, Signature: s, Version: version}
}

// Versions of key "k" as the histories below show them.
var (
	v1a = ver(1, Active, "P1")
	v2s = ver(2, Staged, "P2")
	v2a = ver(2, Active, "P2")
	v3s = ver(3, Staged, "P3")
)

// rotated is the start every lifecycle history shares: k created (v1
// primary), then rotated (v2 staged).
func rotatedKey() []porcupine.Operation {
	return []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 5, 10, req(Rotate, "k", 0, "r1"), keyIs("k", 1, v1a, v2s)),
	}
}

func after(ops ...porcupine.Operation) []porcupine.Operation {
	return append(rotatedKey(), ops...)
}

var lifecycleHistories = []history{
	{"rotate, promote, sign with the new primary", true, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 13, 14, signAt("k", "d1", "s1", 0), sigBy("S1", 2)),
	)},
	{"sign after a promote returns the old primary", false, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 13, 14, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	)},
	{"sign concurrent with a promote may return the old primary", true, after(
		op(1, 11, 14, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 12, 13, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	)},
	{"sign asked for the staged version signs with it", true, after(
		op(2, 11, 12, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
	)},
	{"sign asked for v2 returns v1", false, after(
		op(2, 11, 12, signAt("k", "d1", "s1", 2), sigBy("S1", 1)),
	)},
	{"sign after a revoke returns the revoked version", false, after(
		op(1, 11, 12, req(Revoke, "k", 2, "v1"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 13, 14, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
	)},
	{"sign concurrent with a revoke may still return the version", true, after(
		op(1, 11, 14, req(Revoke, "k", 2, "v1"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 12, 13, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
	)},
	{"sign refused after a revoke", true, after(
		op(1, 11, 12, req(Revoke, "k", 2, "v1"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 13, 14, signAt("k", "d1", "s1", 2), status(FailedPrecondition)),
	)},
	{"sign with the primary after the primary was revoked", false, after(
		op(1, 11, 12, req(Revoke, "k", 0, "v1"), keyIs("k", 1, ver(1, Revoked, "P1"), v2s)),
		op(2, 13, 14, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	)},
	{"sign with the primary after the primary was retired", false, after(
		op(1, 11, 12, req(Retire, "k", 0, "t1"), keyIs("k", 1, ver(1, Retired, "P1"), v2s)),
		op(2, 13, 14, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	)},
	{"read after a revoke shows the version unrevoked", false, after(
		op(1, 11, 12, req(Revoke, "k", 2, "v1"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 13, 14, get("k"), keyIs("k", 1, v1a, v2s)),
	)},
	{"a revoke of unknown outcome is placed after a sign that used the version", true, after(
		op(1, 11, inf, req(Revoke, "k", 2, "v1"), status(Unknown)),
		op(2, 13, 14, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
		op(2, 15, 16, get("k"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
	)},
	{"a revoke of unknown outcome seen by a read stops the version", false, after(
		op(1, 11, inf, req(Revoke, "k", 2, "v1"), status(Unknown)),
		op(2, 13, 14, get("k"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 15, 16, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
	)},
	{"a promote of unknown outcome explains a later primary", true, after(
		op(1, 11, inf, req(Promote, "k", 2, "p1"), status(Unknown)),
		op(2, 13, 14, signAt("k", "d1", "s1", 0), sigBy("S1", 2)),
	)},
	{"a sign retried after a revoke returns its signature", true, after(
		op(2, 11, 12, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
		op(1, 13, 14, req(Revoke, "k", 2, "v1"), keyIs("k", 1, v1a, ver(2, Revoked, "P2"))),
		op(2, 15, 16, signAt("k", "d1", "s1", 2), sigBy("S1", 2)),
	)},
	{"a sign retried returns another version", false, after(
		op(2, 11, 12, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
		op(1, 13, 14, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 15, 16, signAt("k", "d1", "s1", 0), sigBy("S1", 2)),
	)},
	{"a sign pending across a retirement is reported by its retry", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(1, 5, inf, signAt("k", "d1", "s1", 0), status(Unknown)),
		op(0, 6, 7, req(Retire, "k", 0, "t1"), keyIs("k", 1, ver(1, Retired, "P1"))),
		op(2, 8, 9, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	}},
	{"a sign asked after a retirement signs with the retired version", false, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 6, 7, req(Retire, "k", 0, "t1"), keyIs("k", 1, ver(1, Retired, "P1"))),
		op(1, 8, inf, signAt("k", "d1", "s1", 0), status(Unknown)),
		op(2, 10, 11, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	}},
	{"rollback returns to the previous primary", true, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(1, 13, 14, req(Rollback, "k", 0, "b1"), keyIs("k", 1, v1a, v2a)),
		op(2, 15, 16, signAt("k", "d1", "s1", 0), sigBy("S1", 1)),
	)},
	{"rollback to a staged version", false, after(
		op(1, 13, 14, req(Rollback, "k", 2, "b1"), keyIs("k", 2, v1a, v2s)),
	)},
	{"a promote retried with its id changes nothing more", true, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(1, 13, 14, req(Rollback, "k", 0, "b1"), keyIs("k", 1, v1a, v2a)),
		op(2, 15, 16, req(Promote, "k", 2, "p1"), keyIs("k", 1, v1a, v2a)),
	)},
	{"a promote retried with its id promotes again", false, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(1, 13, 14, req(Rollback, "k", 0, "b1"), keyIs("k", 1, v1a, v2a)),
		op(2, 15, 16, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
	)},
	{"a rotate retried with its id returns the key as it is", true, after(
		op(1, 11, 12, req(Rotate, "k", 0, "r1"), keyIs("k", 1, v1a, v2s)),
	)},
	{"a rotate retried with its id adds a version", false, after(
		op(1, 11, 16, req(Rotate, "k", 0, "r1"), keyIs("k", 1, v1a, v2s, v3s)),
	)},
	{"a request id reused for another change is refused", true, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 13, 14, req(Retire, "k", 2, "p1"), status(AlreadyExists)),
	)},
	{"a request id reused for another change takes effect", false, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
		op(2, 13, 14, req(Retire, "k", 1, "p1"), keyIs("k", 2, ver(1, Retired, "P1"), v2a)),
	)},
	{"already exists for a request id nobody used", false, after(
		op(2, 13, 14, req(Retire, "k", 1, "t1"), status(AlreadyExists)),
	)},
	{"a refused change retried under its id succeeds", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 5, inf, req(Rotate, "k", 0, "r1"), status(Unknown)),
		op(1, 6, 7, req(Promote, "k", 2, "p1"), status(FailedPrecondition)),
		op(1, 8, 9, get("k"), keyIs("k", 1, v1a, v2s)),
		op(1, 10, 11, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
	}},
	{"promote refused though the version is staged", false, after(
		op(1, 11, 12, req(Promote, "k", 2, "p1"), status(FailedPrecondition)),
	)},
	{"a default promote takes the newest staged version", true, append(after(
		op(0, 11, 16, req(Rotate, "k", 0, "r2"), keyIs("k", 1, v1a, v2s, v3s))),
		op(1, 17, 18, req(Promote, "k", 0, "p1"), keyIs("k", 3, v1a, v2s, ver(3, Active, "P3"))),
	)},
	{"a default promote takes an older staged version", false, append(after(
		op(0, 11, 16, req(Rotate, "k", 0, "r2"), keyIs("k", 1, v1a, v2s, v3s))),
		op(1, 17, 18, req(Promote, "k", 0, "p1"), keyIs("k", 2, v1a, v2a, v3s)),
	)},
	{"a version's public key changes", false, after(
		op(1, 11, 12, get("k"), keyIs("k", 1, v1a, ver(2, Staged, "Q2"))),
	)},
	{"a rotation of unknown outcome may show up later", true, []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 5, inf, req(Rotate, "k", 0, "r1"), status(Unknown)),
		op(1, 6, 7, get("k"), keyIs("k", 1, v1a)),
		op(1, 8, 9, get("k"), keyIs("k", 1, v1a, ver(2, Generating, ""))),
		op(1, 10, 11, get("k"), keyIs("k", 1, v1a, v2s)),
	}},
	{"a version goes back to generating", false, after(
		op(1, 11, 12, get("k"), keyIs("k", 1, v1a, ver(2, Generating, ""))),
	)},
	{"a handle for a key nobody created", false, []porcupine.Operation{
		op(0, 0, 1, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, Output{Status: OK}),
	}},
	{"a handle refused for a key that exists", false, after(
		op(1, 11, 12, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, status(NotFound)),
	)},
	{"a retried handle request refused as a duplicate", false, after(
		op(1, 11, inf, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, status(Unknown)),
		op(2, 12, 13, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, status(AlreadyExists)),
	)},
	{"a retried handle request answered", true, after(
		op(1, 11, inf, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, status(Unknown)),
		op(2, 12, 13, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, Output{Status: OK}),
	)},
	{"a sign refused with a handle that may have expired", true, after(
		op(1, 11, 12, Input{Kind: IssueHandle, Key: "k", RequestID: "h2", Handle: "e1", HandleTTL: 3 * time.Second}, Output{Status: OK}),
		op(1, 13, 14, Input{Kind: Sign, Key: "k", Digest: "d9", RequestID: "s9", Handle: "e1", HandleTTL: 3 * time.Second}, status(Denied)),
	)},
	{"a sign refused with a handle that outlives the run", false, after(
		op(1, 11, 12, Input{Kind: Sign, Key: "k", Digest: "d9", RequestID: "s9", Handle: "h1", HandleTTL: 12 * time.Hour}, status(Denied)),
	)},
	{"lifecycle requests of unknown outcome allow anything", true, after(
		op(1, 11, inf, req(Promote, "k", 0, "p1"), status(Unknown)),
		op(2, 12, inf, req(Revoke, "k", 0, "v1"), status(Unknown)),
		op(3, 13, inf, req(Rollback, "k", 0, "b1"), status(Unknown)),
		op(4, 14, inf, req(Retire, "k", 2, "t1"), status(Unknown)),
		op(5, 15, inf, req(Rotate, "k", 0, "r2"), status(Unknown)),
		op(6, 16, inf, Input{Kind: IssueHandle, Key: "k", RequestID: "h1"}, status(Unknown)),
	)},
}

func TestModelLifecycleHistories(t *testing.T) {
	for _, h := range lifecycleHistories {
		t.Run(h.name, func(t *testing.T) {
			h.check(t)
			m := Keys()
			m.Partition = nil
			if got := porcupine.CheckOperations(m, h.ops); got != h.linearizable {
				t.Fatalf("unpartitioned: linearizable = %v, want %v", got, h.linearizable)
			}
		})
	}
}

// A read during RotateKey may see the new version still generating; only
// the split rotation models that, and it must still catch a read that sees
// it generating after the rotation returned.
func TestSplitAllowsGeneratingVersionDuringRotate(t *testing.T) {
	during := []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 5, 10, req(Rotate, "k", 0, "r1"), keyIs("k", 1, v1a, v2s)),
		op(1, 6, 7, get("k"), keyIs("k", 1, v1a, ver(2, Generating, ""))),
		op(1, 8, 9, get("k"), keyIs("k", 1, v1a, v2s)),
	}
	if !porcupine.CheckOperations(Keys(), Split(during)) {
		t.Fatal("v2 generating seen during the rotation: not linearizable with rotations split")
	}
	late := append(during, op(1, 11, 12, get("k"), keyIs("k", 1, v1a, ver(2, Generating, ""))))
	if porcupine.CheckOperations(Keys(), Split(late)) {
		t.Fatal("v2 generating seen after the rotation returned it staged: linearizable")
	}
	// A rotation's answer may already show a promotion made after its
	// version was generated, and before the answer was read.
	promotedMeanwhile := []porcupine.Operation{
		op(0, 0, 4, create("k", "c1"), keyIs("k", 1, v1a)),
		op(0, 5, 20, req(Rotate, "k", 0, "r1"), keyIs("k", 2, v1a, v2a)),
		op(1, 6, 7, get("k"), keyIs("k", 1, v1a, ver(2, Generating, ""))),
		op(1, 8, 9, req(Promote, "k", 2, "p1"), keyIs("k", 2, v1a, v2a)),
	}
	if !porcupine.CheckOperations(Keys(), Split(promotedMeanwhile)) {
		t.Fatal("a promotion during the rotation's wait: not linearizable with rotations split")
	}
}
