package render

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// jsonKeys prints v as JSON and returns its top-level keys, sorted.
func jsonKeys(t *testing.T, v View) (map[string]any, []string) {
	t.Helper()
	var buf bytes.Buffer
	if err := (Printer{W: &buf, Format: FormatJSON}).Print(v); err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatalf("%v in %s", err, buf.String())
	}
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return m, keys
}

func sorted(s ...string) []string { slices.Sort(s); return s }

func testKey() *kqpb.Key {
	return &kqpb.Key{
		Name: "payments", Algorithm: kqpb.Algorithm_ED25519, Version: 2, Threshold: 1,
		Members: []string{"n1", "n2", "n3"}, State: kqpb.KeyState_KEY_STATE_ACTIVE,
		PublicKeyPem: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n",
		PublicKey:    []byte{0xab, 0xcd}, Confirmed: []string{"n1", "n2", "n3"},
	}
}

func TestKeyJSONContract(t *testing.T) {
	m, keys := jsonKeys(t, NewKeyView(testKey()))
	want := sorted("name", "algorithm", "version", "threshold", "state", "members", "confirmed", "public_key_pem", "public_key_hex", "failure", "presigs_ready", "presigs_pending",
		"primary_version", "versions", "min_sign_version", "min_verify_version", "deletion_allowed", "purposes", "dual_sign_version", "dual_sign_until")
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["algorithm"] != "ed25519" || m["state"] != "active" || m["public_key_hex"] != "abcd" || m["version"] != 2.0 {
		t.Errorf("values: %v", m)
	}
	// A key still generating has no public key; arrays stay arrays.
	m, _ = jsonKeys(t, NewKeyView(&kqpb.Key{Name: "k", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, State: kqpb.KeyState_KEY_STATE_GENERATING}))
	if m["algorithm"] != "ecdsa-secp256k1" || m["state"] != "generating" {
		t.Errorf("values: %v", m)
	}
	if _, ok := m["members"].([]any); !ok {
		t.Errorf("members = %#v, want []", m["members"])
	}
	for _, field := range []string{"confirmed", "versions", "purposes"} {
		if _, ok := m[field].([]any); !ok {
			t.Errorf("%s = %#v, want []", field, m[field])
		}
	}
	if m["dual_sign_until"] != "" || m["dual_sign_version"] != 0.0 {
		t.Errorf("no dual-sign window: %v", m)
	}
	m, _ = jsonKeys(t, NewKeyView(&kqpb.Key{State: kqpb.KeyState_KEY_STATE_FAILED, Failure: "boom"}))
	if m["state"] != "failed" || m["failure"] != "boom" {
		t.Errorf("values: %v", m)
	}
}

// testVersionedKey is a key in the middle of its lifecycle: v1 retired and
// scheduled for destruction, v2 primary after a refresh, v3 staged with a
// refresh running, v4 destroyed on two of three members.
func testVersionedKey() *kqpb.Key {
	k := testKey()
	k.PrimaryVersion, k.Purposes, k.DeletionAllowed, k.MinSignVersion, k.MinVerifyVersion = 2, []string{"sign", "refunds"}, true, 2, 1
	k.DualSignVersion, k.DualSignUntilUnixNano = 1, time.Date(2030, 5, 6, 7, 8, 9, 123456789, time.UTC).UnixNano()
	k.Versions = []*kqpb.KeyVersion{
		{Version: 1, State: kqpb.KeyState_KEY_STATE_RETIRED, PublicKey: []byte{1}, PublicKeyPem: "PEM1\n",
			DestroyAtUnixNano: time.Date(2030, 6, 1, 0, 0, 0, 0, time.UTC).UnixNano()},
		{Version: 2, State: kqpb.KeyState_KEY_STATE_ACTIVE, PublicKey: []byte{0xab, 0xcd}, PublicKeyPem: testKey().PublicKeyPem, Epoch: 1},
		{Version: 3, State: kqpb.KeyState_KEY_STATE_STAGED, PublicKey: []byte{3}, RefreshEpoch: 1, RefreshConfirmed: []string{"n1"}},
		{Version: 4, State: kqpb.KeyState_KEY_STATE_DESTROYED, PublicKey: []byte{4}, Destroyed: true,
			DestroyAtUnixNano: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano(), SharesDestroyed: []string{"n1", "n2"}},
	}
	return k
}

func TestKeyVersionsJSONContract(t *testing.T) {
	m, _ := jsonKeys(t, NewKeyView(testVersionedKey()))
	if m["primary_version"] != 2.0 || m["min_sign_version"] != 2.0 || m["min_verify_version"] != 1.0 || m["deletion_allowed"] != true {
		t.Errorf("values: %v", m)
	}
	if m["dual_sign_version"] != 1.0 || m["dual_sign_until"] != "2030-05-06T07:08:09.123456789Z" {
		t.Errorf("dual sign: %v %v", m["dual_sign_version"], m["dual_sign_until"])
	}
	if p := m["purposes"].([]any); len(p) != 2 || p[1] != "refunds" {
		t.Errorf("purposes = %v", p)
	}
	versions := m["versions"].([]any)
	if len(versions) != 4 {
		t.Fatalf("versions = %v", versions)
	}
	v1 := versions[0].(map[string]any)
	var vk []string
	for k := range v1 {
		vk = append(vk, k)
	}
	slices.Sort(vk)
	want := sorted("version", "state", "public_key_pem", "public_key_hex", "epoch", "confirmed", "failure",
		"refresh_epoch", "refresh_confirmed", "destroy_at", "destroyed", "shares_destroyed")
	if !slices.Equal(vk, want) {
		t.Fatalf("version keys %v, want %v", vk, want)
	}
	if v1["state"] != "retired" || v1["public_key_pem"] != "PEM1\n" || v1["destroy_at"] != "2030-06-01T00:00:00Z" || v1["destroyed"] != false {
		t.Errorf("v1 = %v", v1)
	}
	if _, ok := v1["shares_destroyed"].([]any); !ok {
		t.Errorf("v1 shares_destroyed = %#v, want []", v1["shares_destroyed"])
	}
	if v2 := versions[1].(map[string]any); v2["epoch"] != 1.0 || v2["destroy_at"] != "" || v2["public_key_hex"] != "abcd" {
		t.Errorf("v2 = %v", v2)
	}
	if v3 := versions[2].(map[string]any); v3["state"] != "staged" || v3["refresh_epoch"] != 1.0 || len(v3["refresh_confirmed"].([]any)) != 1 {
		t.Errorf("v3 = %v", v3)
	}
	v4 := versions[3].(map[string]any)
	if v4["state"] != "destroyed" || v4["destroyed"] != true || len(v4["shares_destroyed"].([]any)) != 2 {
		t.Errorf("v4 = %v", v4)
	}
	// The old top-level fields stay: scripts that predate versions read them.
	if m["version"] != 2.0 || m["state"] != "active" || !strings.HasPrefix(m["public_key_pem"].(string), "-----BEGIN") {
		t.Errorf("top level: %v", m)
	}
}

func TestKeyVersionsTable(t *testing.T) {
	var buf bytes.Buffer
	if err := (Printer{W: &buf, Format: FormatTable}).Print(NewKeyView(testVersionedKey())); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{
		"purposes: sign, refunds\n",
		"policy: signs from v2, verifies from v1; deletion allowed\n",
		"VERSION  STATE      EPOCH  NOTES\n",
		"1        retired    0      dual-sign until 2030-05-06T07:08:09Z; destroys at 2030-06-01T00:00:00Z\n",
		"2        active     1      primary\n",
		"3        staged     0      refreshing to epoch 1 (stored on n1)\n",
		"4        destroyed  0      shredded on n1,n2; not yet shredded on n3\n",
		"-----BEGIN PUBLIC KEY-----",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	// A key from a node without versions prints as before.
	buf.Reset()
	if err := (Printer{W: &buf, Format: FormatTable}).Print(NewKeyView(testKey())); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "NOTES") || strings.Contains(buf.String(), "policy:") {
		t.Errorf("versionless key:\n%s", buf.String())
	}
}

func TestHandleJSONContract(t *testing.T) {
	expires := time.Date(2030, 1, 2, 3, 4, 5, 6, time.FixedZone("x", 3600))
	m, keys := jsonKeys(t, NewHandleView(&kqpb.Handle{Handle: "kqh_0123456789abcdef_s", Id: "0123456789abcdef", Key: "k", Purpose: "sign",
		ExpiresAtUnixNano: expires.UnixNano(), MaxUses: 1}))
	if want := sorted("handle", "id", "key", "purpose", "expires_at", "max_uses"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["handle"] != "kqh_0123456789abcdef_s" || m["expires_at"] != "2030-01-02T02:04:05.000000006Z" || m["max_uses"] != 1.0 {
		t.Errorf("values: %v", m)
	}
	_, keys = jsonKeys(t, RevokedHandleView{ID: "i", Key: "k", Revoked: true})
	if want := sorted("id", "key", "revoked"); !slices.Equal(keys, want) {
		t.Fatalf("revoke keys %v, want %v", keys, want)
	}
}

func TestKeyListJSONContract(t *testing.T) {
	m, keys := jsonKeys(t, NewKeyListView(&kqpb.ListKeysResponse{Keys: []*kqpb.Key{testKey()}}))
	if !slices.Equal(keys, []string{"keys"}) {
		t.Fatalf("keys %v", keys)
	}
	list := m["keys"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "payments" {
		t.Errorf("keys = %v", list)
	}
	m, _ = jsonKeys(t, NewKeyListView(&kqpb.ListKeysResponse{}))
	if _, ok := m["keys"].([]any); !ok {
		t.Errorf("empty list = %#v, want []", m["keys"])
	}
}

func TestSignVerifyJSONContract(t *testing.T) {
	m, keys := jsonKeys(t, NewSignView(&kqpb.SignResponse{Key: "k", Version: 1, Signature: []byte{1, 2}, Committee: []string{"n1", "n3"}, RequestId: "r1", Index: 42}))
	if want := sorted("key", "version", "signature_hex", "signatures", "request_id", "committee", "index", "presigned"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["signature_hex"] != "0102" || m["index"] != 42.0 || m["request_id"] != "r1" {
		t.Errorf("values: %v", m)
	}
	// A node that sends no list still yields one with its signature.
	if sigs := m["signatures"].([]any); len(sigs) != 1 || sigs[0].(map[string]any)["signature_hex"] != "0102" || sigs[0].(map[string]any)["version"] != 1.0 {
		t.Errorf("signatures = %v", sigs)
	}
	dual := NewSignView(&kqpb.SignResponse{Key: "k", Version: 3, Signature: []byte{3},
		Signatures: []*kqpb.VersionSignature{{Version: 3, Signature: []byte{3}}, {Version: 2, Signature: []byte{2}}}})
	if want := []VersionSignatureView{{3, "03"}, {2, "02"}}; !slices.Equal(dual.Signatures, want) {
		t.Errorf("dual = %+v", dual.Signatures)
	}
	var buf bytes.Buffer
	if err := dual.Table(&buf); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "dual-sign signature  02 (version 2)") {
		t.Errorf("dual table:\n%s", buf.String())
	}
	m, _ = jsonKeys(t, NewSignView(&kqpb.SignResponse{}))
	if sigs, ok := m["signatures"].([]any); !ok || len(sigs) != 0 {
		t.Errorf("no signature: signatures = %#v, want []", m["signatures"])
	}
	_, keys = jsonKeys(t, VerifyView{Valid: true, Key: "k", Version: 1})
	if want := sorted("valid", "key", "version"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
}

func TestStatusJSONContract(t *testing.T) {
	v := StatusView{ClusterID: "c", Leader: "n1", Nodes: []NodeStatusView{
		NewNodeStatusView("n1", &kqpb.StatusResponse{State: "leader", Term: 3, CommitIndex: 10, AppliedIndex: 9, Preparams: "ready", Keys: 2,
			SignRecords: 12, MaxSignRecords: 100000, RequestRecords: 3, MaxRequestRecords: 50000, DedupAgeSeconds: 86400, Handles: 5, MaxHandles: 1000}, nil),
		NewNodeStatusView("n2", nil, status.Error(codes.Unavailable, "connection refused")),
	}}
	m, keys := jsonKeys(t, v)
	if want := sorted("cluster_id", "leader", "members", "nodes"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	nodes := m["nodes"].([]any)
	n1, n2 := nodes[0].(map[string]any), nodes[1].(map[string]any)
	var nk []string
	for k := range n1 {
		nk = append(nk, k)
	}
	slices.Sort(nk)
	if want := sorted("id", "state", "term", "commit_index", "applied_index", "preparams", "keys", "reachable", "error",
		"sign_records", "max_sign_records", "request_records", "max_request_records", "dedup_age_seconds", "handles", "max_handles",
		"protocol", "max_protocol", "clock_offset_nanos", "clock", "drift", "estimates"); !slices.Equal(nk, want) {
		t.Fatalf("node keys %v, want %v", nk, want)
	}
	if n1["reachable"] != true || n1["commit_index"] != 10.0 || n1["applied_index"] != 9.0 {
		t.Errorf("n1 = %v", n1)
	}
	if n1["sign_records"] != 12.0 || n1["max_sign_records"] != 100000.0 || n1["request_records"] != 3.0 || n1["max_request_records"] != 50000.0 ||
		n1["dedup_age_seconds"] != 86400.0 || n1["handles"] != 5.0 || n1["max_handles"] != 1000.0 {
		t.Errorf("n1 dedup = %v", n1)
	}
	if n2["reachable"] != false || n2["state"] != "unreachable" || n2["error"] != "Unavailable: connection refused" {
		t.Errorf("n2 = %v", n2)
	}
}

func TestTables(t *testing.T) {
	var buf bytes.Buffer
	p := Printer{W: &buf, Format: FormatTable}
	if err := p.Print(NewKeyView(testKey())); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	for _, want := range []string{"NAME", "ALGORITHM", "VERSION", "STATE", "THRESHOLD", "MEMBERS", "payments", "ed25519", "n1,n2,n3", "-----BEGIN PUBLIC KEY-----"} {
		if !strings.Contains(out, want) {
			t.Errorf("key table lacks %q:\n%s", want, out)
		}
	}
	lines := strings.Split(out, "\n")
	if strings.Index(lines[0], "ALGORITHM") != strings.Index(lines[1], "ed25519") {
		t.Errorf("columns not aligned:\n%s", out)
	}

	buf.Reset()
	v := StatusView{ClusterID: "c", Leader: "", Nodes: []NodeStatusView{
		NewNodeStatusView("n1", &kqpb.StatusResponse{State: "follower", Term: 3, Preparams: "generating (5s)"}, nil),
		NewNodeStatusView("n2", nil, errors.New("dial failed")),
	}}
	if err := p.Print(v); err != nil {
		t.Fatal(err)
	}
	out = buf.String()
	for _, want := range []string{"cluster c  leader none", "NODE", "PREPARAMS", "generating (5s)", "unreachable", "n2: dial failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "dedup:") {
		t.Errorf("dedup line without bounds:\n%s", out)
	}
}

func TestStatusDedupLine(t *testing.T) {
	follower := &kqpb.StatusResponse{State: "follower", SignRecords: 11, MaxSignRecords: 100000, MaxRequestRecords: 100000, MaxHandles: 100000, DedupAgeSeconds: 60}
	leader := &kqpb.StatusResponse{State: "leader", SignRecords: 12, MaxSignRecords: 100000, RequestRecords: 3, MaxRequestRecords: 100000,
		DedupAgeSeconds: 86400, Handles: 5, MaxHandles: 100000}
	v := StatusView{ClusterID: "c", Leader: "n2", Nodes: []NodeStatusView{
		NewNodeStatusView("n1", follower, nil), NewNodeStatusView("n2", leader, nil),
	}}
	var buf bytes.Buffer
	if err := v.Table(&buf); err != nil {
		t.Fatal(err)
	}
	if want := "dedup: 12/100000 sign records, 3/100000 requests, kept 24h; handles 5/100000\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("want the leader's %q in:\n%s", want, buf.String())
	}
	// Without a leader, the first node that answered.
	v.Leader = ""
	buf.Reset()
	if err := v.Table(&buf); err != nil {
		t.Fatal(err)
	}
	if want := "dedup: 11/100000 sign records, 0/100000 requests, kept 1m; handles 0/100000\n"; !strings.Contains(buf.String(), want) {
		t.Errorf("want %q in:\n%s", want, buf.String())
	}
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		24 * time.Hour: "24h", 90 * time.Minute: "1h30m", 45 * time.Second: "45s", 90 * time.Second: "1m30s",
		time.Hour + time.Second: "1h0m1s", 0: "0s",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestErrorText(t *testing.T) {
	if got := ErrorText(status.Error(codes.NotFound, `key "x" not found`)); got != `NotFound: key "x" not found` {
		t.Errorf("got %q", got)
	}
	if got := ErrorText(errors.New("plain")); got != "plain" {
		t.Errorf("got %q", got)
	}
}
