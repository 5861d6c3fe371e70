package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm/ceremony"
	"github.com/keyquorum/keyquorum/consensus/fsm/membership"
)

// TestMembershipCeremonyParams: `kq ceremony propose membership` reads a
// new node's addresses from cluster.yaml, as kq node add does, so the
// approvers sign the addresses too; mistakes are usage errors.
func TestMembershipCeremonyParams(t *testing.T) {
	opts := &options{configPath: "../../cluster.yaml", timeout: 10 * time.Second, stdout: &bytes.Buffer{}, stderr: &bytes.Buffer{}}
	p, err := opts.membershipParams(membership.Replace, "n3", "n2")
	if err != nil || p.Op != membership.Replace || p.Node != "n3" || p.New == nil ||
		*p.New != (ceremony.NewMember{ID: "n2", Raft: "127.0.0.1:7102", Peer: "127.0.0.1:7202", Client: "127.0.0.1:7302"}) {
		t.Fatalf("replace n3 --with n2: %+v %+v, %v", p, p.New, err)
	}
	if p, err := opts.membershipParams(membership.Remove, "n3", ""); err != nil || p.Node != "n3" || p.New != nil {
		t.Fatalf("remove n3: %+v, %v", p, err)
	}
	if _, err := opts.membershipParams(membership.Add, "n9", ""); err == nil || !strings.Contains(err.Error(), "append it") {
		t.Fatalf("add a node cluster.yaml lacks: %v", err)
	}
	for _, bad := range [][3]string{{"grow", "n3", ""}, {membership.Replace, "n3", ""}, {membership.Add, "", ""}} {
		var usage usageError
		if _, err := opts.membershipParams(bad[0], bad[1], bad[2]); !errors.As(err, &usage) {
			t.Errorf("--op %q --node %q --with %q: %v, want a usage error", bad[0], bad[1], bad[2], err)
		}
	}
}
