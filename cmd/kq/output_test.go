package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// jsonKeys prints v as JSON and returns its top-level keys, sorted.
func jsonKeys(t *testing.T, v view) (map[string]any, []string) {
	t.Helper()
	var buf bytes.Buffer
	if err := (printer{w: &buf, format: formatJSON}).print(v); err != nil {
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
	m, keys := jsonKeys(t, newKeyView(testKey()))
	want := sorted("name", "algorithm", "version", "threshold", "state", "members", "confirmed", "public_key_pem", "public_key_hex", "failure", "presigs_ready", "presigs_pending")
	if !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["algorithm"] != "ed25519" || m["state"] != "active" || m["public_key_hex"] != "abcd" || m["version"] != 2.0 {
		t.Errorf("values: %v", m)
	}
	// A key still generating has no public key; arrays stay arrays.
	m, _ = jsonKeys(t, newKeyView(&kqpb.Key{Name: "k", Algorithm: kqpb.Algorithm_ECDSA_SECP256K1, State: kqpb.KeyState_KEY_STATE_GENERATING}))
	if m["algorithm"] != "ecdsa-secp256k1" || m["state"] != "generating" {
		t.Errorf("values: %v", m)
	}
	if _, ok := m["members"].([]any); !ok {
		t.Errorf("members = %#v, want []", m["members"])
	}
	if _, ok := m["confirmed"].([]any); !ok {
		t.Errorf("confirmed = %#v, want []", m["confirmed"])
	}
	m, _ = jsonKeys(t, newKeyView(&kqpb.Key{State: kqpb.KeyState_KEY_STATE_FAILED, Failure: "boom"}))
	if m["state"] != "failed" || m["failure"] != "boom" {
		t.Errorf("values: %v", m)
	}
}

func TestKeyListJSONContract(t *testing.T) {
	m, keys := jsonKeys(t, newKeyListView(&kqpb.ListKeysResponse{Keys: []*kqpb.Key{testKey()}}))
	if !slices.Equal(keys, []string{"keys"}) {
		t.Fatalf("keys %v", keys)
	}
	list := m["keys"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["name"] != "payments" {
		t.Errorf("keys = %v", list)
	}
	m, _ = jsonKeys(t, newKeyListView(&kqpb.ListKeysResponse{}))
	if _, ok := m["keys"].([]any); !ok {
		t.Errorf("empty list = %#v, want []", m["keys"])
	}
}

func TestSignVerifyJSONContract(t *testing.T) {
	m, keys := jsonKeys(t, newSignView(&kqpb.SignResponse{Key: "k", Version: 1, Signature: []byte{1, 2}, Committee: []string{"n1", "n3"}, RequestId: "r1", Index: 42}))
	if want := sorted("key", "version", "signature_hex", "request_id", "committee", "index", "presigned"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	if m["signature_hex"] != "0102" || m["index"] != 42.0 || m["request_id"] != "r1" {
		t.Errorf("values: %v", m)
	}
	_, keys = jsonKeys(t, verifyView{Valid: true, Key: "k", Version: 1})
	if want := sorted("valid", "key", "version"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
}

func TestStatusJSONContract(t *testing.T) {
	v := statusView{ClusterID: "c", Leader: "n1", Nodes: []nodeStatusView{
		newNodeStatusView("n1", &kqpb.StatusResponse{State: "leader", Term: 3, CommitIndex: 10, AppliedIndex: 9, Preparams: "ready", Keys: 2}, nil),
		newNodeStatusView("n2", nil, status.Error(codes.Unavailable, "connection refused")),
	}}
	m, keys := jsonKeys(t, v)
	if want := sorted("cluster_id", "leader", "nodes"); !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	nodes := m["nodes"].([]any)
	n1, n2 := nodes[0].(map[string]any), nodes[1].(map[string]any)
	var nk []string
	for k := range n1 {
		nk = append(nk, k)
	}
	slices.Sort(nk)
	if want := sorted("id", "state", "term", "commit_index", "applied_index", "preparams", "keys", "reachable", "error"); !slices.Equal(nk, want) {
		t.Fatalf("node keys %v, want %v", nk, want)
	}
	if n1["reachable"] != true || n1["commit_index"] != 10.0 || n1["applied_index"] != 9.0 {
		t.Errorf("n1 = %v", n1)
	}
	if n2["reachable"] != false || n2["state"] != "unreachable" || n2["error"] != "Unavailable: connection refused" {
		t.Errorf("n2 = %v", n2)
	}
}

func TestTables(t *testing.T) {
	var buf bytes.Buffer
	p := printer{w: &buf, format: formatTable}
	if err := p.print(newKeyView(testKey())); err != nil {
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
	v := statusView{ClusterID: "c", Leader: "", Nodes: []nodeStatusView{
		newNodeStatusView("n1", &kqpb.StatusResponse{State: "follower", Term: 3, Preparams: "generating (5s)"}, nil),
		newNodeStatusView("n2", nil, errors.New("dial failed")),
	}}
	if err := p.print(v); err != nil {
		t.Fatal(err)
	}
	out = buf.String()
	for _, want := range []string{"cluster c  leader none", "NODE", "PREPARAMS", "generating (5s)", "unreachable", "n2: dial failed"} {
		if !strings.Contains(out, want) {
			t.Errorf("status table lacks %q:\n%s", want, out)
		}
	}
}

func TestPickLeader(t *testing.T) {
	got := pickLeader([]*kqpb.StatusResponse{
		{NodeId: "n1", State: "leader", Term: 2},
		{NodeId: "n2", State: "leader", Term: 3},
		nil,
	})
	if got != "n2" {
		t.Errorf("two claimants: got %q, want the higher term n2", got)
	}
	got = pickLeader([]*kqpb.StatusResponse{
		{NodeId: "n1", State: "follower", LeaderId: "n3"},
		{NodeId: "n2", State: "follower", LeaderId: "n3"},
		nil,
	})
	if got != "n3" {
		t.Errorf("followers agree: got %q", got)
	}
	if got := pickLeader([]*kqpb.StatusResponse{nil, {State: "candidate"}}); got != "" {
		t.Errorf("no leader: got %q", got)
	}
}

func TestErrorText(t *testing.T) {
	if got := errorText(status.Error(codes.NotFound, `key "x" not found`)); got != `NotFound: key "x" not found` {
		t.Errorf("got %q", got)
	}
	if got := errorText(errors.New("plain")); got != "plain" {
		t.Errorf("got %q", got)
	}
}

func TestParseHexAndAlgorithm(t *testing.T) {
	b, err := parseHex("--digest", "0xABcd")
	if err != nil || !bytes.Equal(b, []byte{0xab, 0xcd}) {
		t.Errorf("got %x, %v", b, err)
	}
	var u usageError
	if _, err := parseHex("--digest", "xyz"); !errors.As(err, &u) {
		t.Errorf("bad hex: %v", err)
	}
	if _, err := parseHex("--digest", ""); !errors.As(err, &u) {
		t.Errorf("empty: %v", err)
	}
	if a, err := parseAlgorithm("ECDSA-secp256k1"); err != nil || a != kqpb.Algorithm_ECDSA_SECP256K1 {
		t.Errorf("got %v, %v", a, err)
	}
	if _, err := parseAlgorithm("rsa"); err == nil {
		t.Error("rsa accepted")
	}
}

func TestRetryHintOnlyWhenOutcomeUnknown(t *testing.T) {
	err := withRetryHint(status.Error(codes.DeadlineExceeded, "context deadline exceeded"), "r-9")
	if status.Code(err) != codes.DeadlineExceeded || !strings.Contains(err.Error(), "--request-id r-9") {
		t.Errorf("deadline: %v", err)
	}
	err = withRetryHint(status.Error(codes.AlreadyExists, "key exists"), "r-9")
	if strings.Contains(err.Error(), "r-9") {
		t.Errorf("definite failure got a hint: %v", err)
	}
}
