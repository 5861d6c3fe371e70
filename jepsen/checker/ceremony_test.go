package checker

import (
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/consensus/audit"
	"github.com/keyquorum/keyquorum/jepsen/model"
)

// ceremonyFixture is a key-policy ceremony with three operators, quorum 2.
type ceremonyFixture struct {
	keys map[string]ed25519.PrivateKey
	view CeremonyView
}

func newCeremonyFixture(t *testing.T) *ceremonyFixture {
	t.Helper()
	f := &ceremonyFixture{keys: map[string]ed25519.PrivateKey{}}
	f.view = CeremonyView{ID: "cer-7", Kind: "key-policy", Cluster: "kq-test", Nonce: strings.Repeat("ab", 16),
		ParamsSHA256: strings.Repeat("cd", 32), ExpiresAt: 1e18, Quorum: 2, Proposer: "admin",
		Approvers: map[string]string{}, State: audit.CeremonyPending}
	for _, name := range []string{"alice", "bob", "carol"} {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			t.Fatal(err)
		}
		f.keys[name] = priv
		f.view.Approvers[name] = audit.FormatApprovalKey(priv.Public().(ed25519.PublicKey))
	}
	d := audit.CeremonyDigest(f.view.Cluster, f.view.ID, f.view.Nonce, f.view.Kind, f.view.ParamsSHA256, f.view.ExpiresAt)
	f.view.Digest = hex.EncodeToString(d[:])
	return f
}

// approved returns the view after operators approved, in order, and the
// state the cluster claims.
func (f *ceremonyFixture) approved(state string, operators ...string) CeremonyView {
	v := f.view
	v.Approvals = nil
	d, _ := hex.DecodeString(v.Digest)
	for _, op := range operators {
		v.Approvals = append(v.Approvals, CeremonyApproval{Operator: op, PublicKey: v.Approvers[op],
			Signature: hex.EncodeToString(ed25519.Sign(f.keys[op], d)), Counted: true})
	}
	v.Counted, v.State = uint32(len(operators)), state
	return v
}

func approveOp(call int64, id, operator, bad string, st model.Status, views ...CeremonyView) CeremonyOp {
	return CeremonyOp{Op: CeremonyApprove, ID: id, Operator: operator, Bad: bad, Call: call, Return: call + 1e6,
		Node: "n1", Status: st, Ceremonies: views}
}

func finalList(views ...CeremonyView) CeremonyOp {
	return CeremonyOp{Op: CeremonyList, Final: true, Call: 9e9, Return: 9e9 + 1e6, Node: "n1", Status: model.OK, Ceremonies: views}
}

func TestCeremoniesCheck(t *testing.T) {
	f := newCeremonyFixture(t)
	one, two := f.approved(audit.CeremonyPending, "alice"), f.approved(audit.CeremonyExecuted, "alice", "bob")
	forged := two
	forged.Approvals = append([]CeremonyApproval(nil), two.Approvals...)
	forged.Approvals[1].Signature = forged.Approvals[0].Signature // bob "signs" with alice's signature
	for _, tc := range []struct {
		name string
		ops  []CeremonyOp
		want string // "" for valid, else a piece of the first violation
	}{
		{"executed at its quorum", []CeremonyOp{
			approveOp(1e9, "cer-7", "alice", "", model.OK, one),
			approveOp(2e9, "cer-7", "bob", "", model.OK, two),
			finalList(two)}, ""},
		{"executed one approval short", []CeremonyOp{
			approveOp(1e9, "cer-7", "alice", "", model.OK, f.approved(audit.CeremonyExecuted, "alice")),
			finalList(f.approved(audit.CeremonyExecuted, "alice"))}, "below its quorum 2"},
		{"an approval whose signature does not verify", []CeremonyOp{finalList(forged)}, "does not verify"},
		{"a bad approval accepted", []CeremonyOp{
			approveOp(1e9, "cer-7", "", BadStranger, model.OK, one), finalList(one)}, "bad approval"},
		{"an acknowledged approval lost", []CeremonyOp{
			approveOp(1e9, "cer-7", "alice", "", model.OK, one),
			approveOp(2e9, "cer-7", "bob", "", model.OK, f.approved(audit.CeremonyPending, "alice", "bob")),
			finalList(one)}, "not in the final state"},
		{"an acknowledged execution undone", []CeremonyOp{
			approveOp(2e9, "cer-7", "bob", "", model.OK, two),
			finalList(f.approved(audit.CeremonyPending, "alice", "bob"))}, "acknowledged executed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Ceremonies(tc.ops, nil)
			switch {
			case tc.want == "" && c.Verdict != Valid:
				t.Fatalf("verdict %s: %v", c.Verdict, c.Details)
			case tc.want != "" && (c.Verdict != Invalid || !strings.Contains(strings.Join(c.Details, "\n"), tc.want)):
				t.Fatalf("verdict %s, details %v; want invalid naming %q", c.Verdict, c.Details, tc.want)
			}
		})
	}
}
