package commands

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/entry"
	"github.com/keyquorum/keyquorum/consensus/fsm/handles"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/consensus/fsm/protover"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/consensus/fsm/state"
	"github.com/keyquorum/keyquorum/consensus/policy"
)

var updateGolden = flag.Bool("update", false, "rewrite testdata/audit_records.golden from the current derivation")

// allCommandTypes lists every replicated entry type by hand, with the
// protocol version that introduced it: a type dropped from the command
// table, or moved to another version, is noticed here.
var allCommandTypes = []struct {
	typ   entry.CommandType
	since uint32
}{
	{entry.TypeCreateKey, protover.V1},
	{entry.TypeShareStored, protover.V1},
	{entry.TypeKeygenFailed, protover.V1},
	{entry.TypeSignRequested, protover.V1},
	{entry.TypeSignRetry, protover.V1},
	{entry.TypeSignCompleted, protover.V1},
	{entry.TypeSignFailed, protover.V1},
	{entry.TypePreParamsReady, protover.V1},
	{entry.TypeAuditDenials, protover.V1},
	{entry.TypeAuditCheckpoint, protover.V1},
	{entry.TypePresignRequested, protover.V1},
	{entry.TypePresignReady, protover.V1},
	{entry.TypePresignDiscarded, protover.V1},
	{entry.TypeNodeBooted, protover.V1},
	{entry.TypeIssueHandle, protover.V1},
	{entry.TypeRevokeHandle, protover.V1},
	{entry.TypeChangeKey, protover.V1},
	{entry.TypeDestroyDue, protover.V1},
	{entry.TypeShareDestroyed, protover.V1},
	{entry.TypeShareRefreshed, protover.V1},
	{entry.TypeRefreshFailed, protover.V1},
	{entry.TypeRaiseProtocol, protover.V2},
	{entry.TypeSetLimits, protover.V2},
	{entry.TypeNodeSettings, protover.V2},
	{entry.TypeFrostCommitted, protover.V2},
	{entry.TypeAttemptBlamed, protover.V2},
	{entry.TypeClearBlame, protover.V2},
	{entry.TypeSetPolicy, protover.V2},
	{entry.TypeRevokePrincipal, protover.V2},
	{entry.TypeCreateTenant, protover.V2},
	{entry.TypeDeleteTenant, protover.V2},
	{entry.TypeTenantShredded, protover.V2},
	{entry.TypeProposeCeremony, protover.V2},
	{entry.TypeApproveCeremony, protover.V2},
	{entry.TypeCancelCeremony, protover.V2},
	{entry.TypeFreeze, protover.V2},
	{entry.TypeUnfreeze, protover.V2},
	{entry.TypeReshareKey, protover.V2},
	{entry.TypeSharesShredded, protover.V2},
	{entry.TypeClusterRecovered, protover.V2},
	{entry.TypeChangeMembers, protover.V2},
	{entry.TypeMemberStep, protover.V2},
}

// TestCommandTable: the table holds every entry type, each under the
// version that introduced it and making a command that names its type.
func TestCommandTable(t *testing.T) {
	if len(table) != len(allCommandTypes) {
		t.Errorf("the command table has %d types, want %d", len(table), len(allCommandTypes))
	}
	for _, want := range allCommandTypes {
		cmd, since := NewCommand(want.typ)
		switch {
		case cmd == nil:
			t.Errorf("%s is not in the command table", want.typ)
		case cmd.Type() != want.typ || since != want.since:
			t.Errorf("%s makes a %s of protocol %d, want protocol %d", want.typ, cmd.Type(), since, want.since)
		}
	}
}

// TestAuditRecordsGolden pins the audit records every entry type derives,
// byte for byte: each type, empty and with every field set (naming state
// the replica holds, and naming none), against results that succeeded,
// were duplicates, were refused as stale or invalid, failed a ceremony,
// and carried every field. The records are part of the replicated chain:
// a change here forks the chain between replicas of two builds. Run with
// -update only for a change meant to alter the audit output.
func TestAuditRecordsGolden(t *testing.T) {
	f := &Machine{cfg: DefaultConfig(), st: state.New()}
	f.st.Keys["x"] = goldenKey(keys.Active)
	f.st.Signs["x"] = &signs.Sign{RequestID: "x", Key: "x", Version: 2, DigestHash: [32]byte{1, 2, 3}, State: signs.Pending, Attempt: 1}

	results := []struct {
		name string
		res  Result
	}{
		{"ok", Result{}},
		{"duplicate", Result{Duplicate: true}},
		{"stale", Result{Err: fmt.Errorf("golden: %w", ErrStale)}},
		{"invalid", Result{Err: fmt.Errorf("golden: %w", ErrInvalidCommand)}},
		{"ceremony-failed", Result{Err: fmt.Errorf("golden: %w", ceremony.ErrFailed), Ceremony: goldenCeremony(ceremony.Failed)}},
		{"full", Result{Key: goldenKey(keys.Active), Sign: &signs.Sign{RequestID: "r", Key: "rk", Version: 4, DigestHash: [32]byte{9}},
			Handle: &handles.Handle{ID: "h", Key: "hk"}, Version: 3, Note: "note", Ceremony: goldenCeremony(ceremony.Pending), Ended: []string{"e"}}},
		{"key-failed", Result{Key: goldenKey(keys.Failed)}},
		{"key-staged", Result{Key: goldenKey(keys.Staged), Note: "staged"}},
	}
	var out bytes.Buffer
	for _, ct := range allCommandTypes {
		typ := ct.typ
		for _, variant := range []string{"empty", "known", "unknown"} {
			cmd, _ := NewCommand(typ)
			if cmd == nil {
				t.Fatalf("%s is not in the command table", typ)
			}
			switch variant {
			case "known":
				fill(reflect.ValueOf(cmd).Elem(), "x", 2, 0)
			case "unknown":
				fill(reflect.ValueOf(cmd).Elem(), "y", 7, 0)
			}
			for _, r := range results {
				if typ == entry.TypeShareStored && variant == "empty" && r.res.Key != nil {
					continue // an applied report names a version of the key
				}
				recs := f.deriveRecords(cmd, r.res)
				line, err := json.Marshal(recs)
				if err != nil {
					t.Fatal(err)
				}
				fmt.Fprintf(&out, "%s %s %s %s\n", typ, variant, r.name, line)
			}
		}
	}
	path := filepath.Join("testdata", "audit_records.golden")
	if *updateGolden {
		if err := os.WriteFile(path, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	got := bytes.Split(out.Bytes(), []byte("\n"))
	for i, w := range bytes.Split(want, []byte("\n")) {
		if i >= len(got) || !bytes.Equal(got[i], w) {
			var g []byte
			if i < len(got) {
				g = got[i]
			}
			t.Fatalf("audit records differ from %s at line %d:\n got %s\nwant %s", path, i+1, g, w)
		}
	}
	if len(got) != len(bytes.Split(want, []byte("\n"))) {
		t.Fatalf("%d lines of records, %s has %d", len(got), path, len(bytes.Split(want, []byte("\n"))))
	}
}

// goldenKey is a key of seven versions in state s, so that every version
// a filled command names exists.
func goldenKey(s keys.State) *keys.Key {
	k := &keys.Key{Name: "x", Algorithm: "ed25519", Threshold: 1, Members: []string{"n1", "n2"}, Primary: 2}
	for n := range uint32(7) {
		k.Versions = append(k.Versions, &keys.Version{Number: n + 1, State: s, PublicKey: []byte{byte(n + 1)}, Failure: fmt.Sprint("failure ", n+1)})
	}
	return k
}

func goldenCeremony(s ceremony.State) *ceremony.Ceremony {
	return &ceremony.Ceremony{ID: "c", Kind: policy.KindPolicyChange, ParamsSHA256: "ps", Proposer: "p", Nonce: "n", Cluster: "cl", Digest: "d",
		Quorum: 2, Approvals: []ceremony.Approval{{Operator: "o1", PublicKey: "pk1", Signature: "s1", Counted: true}, {Operator: "o2", PublicKey: "pk2", Signature: "s2"}},
		ExpiresAt: 99, State: s, Note: "why"}
}

// fill sets every settable field of v: strings to s, numbers to n,
// booleans to true, one element in slices and maps, pointers to a filled
// value.
func fill(v reflect.Value, s string, n, depth int) {
	if depth > 4 {
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(n))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(n))
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Field(i).CanSet() {
				fill(v.Field(i), s, n, depth+1)
			}
		}
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), s, n, depth+1)
		v.Set(p)
	case reflect.Slice:
		sl := reflect.MakeSlice(v.Type(), 1, 1)
		fill(sl.Index(0), s, n, depth+1)
		v.Set(sl)
	case reflect.Array:
		for i := range v.Len() {
			fill(v.Index(i), s, n, depth+1)
		}
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, s, n, depth+1)
		fill(e, s, n, depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	}
}
