package consensus_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/consensustest"
)

func TestTLSClusterReplicates(t *testing.T) {
	ca := consensustest.NewCA(t, "keyquorum-test-ca")
	c := newCluster(t, 3, func(id string) *tls.Config { return ca.MemberTLS(t, id) }, nil)
	l := c.leader()
	want := c.applyN(l, 5, "tls")
	c.converge(want)
	if err := c.members[l].node.LinearizableRead(context.Background()); err != nil {
		t.Fatalf("read over TLS: %v", err)
	}
}

func TestTLSMemberFromForeignCACannotJoin(t *testing.T) {
	ca := consensustest.NewCA(t, "keyquorum-test-ca")
	rogue := consensustest.NewCA(t, "rogue-ca")
	c := newCluster(t, 3, func(id string) *tls.Config {
		if id == "n3" {
			return rogue.MemberTLS(t, id)
		}
		return ca.MemberTLS(t, id)
	}, nil)
	outsider := c.members[2]

	// n1 and n2 are a quorum of the three-member configuration.
	l := -1
	eventually(t, 5*time.Second, func() error {
		for i, m := range c.members[:2] {
			if m.node.IsLeader() {
				l = i
				return nil
			}
		}
		return errNoLeader
	})
	want := c.applyN(l, 5, "guarded")
	eventually(t, 5*time.Second, func() error {
		if got := c.members[1-l].fsm.get(); !slices.Equal(got, want) {
			return errNotConverged
		}
		return nil
	})
	eventually(t, 3*time.Second, func() error {
		if got := c.members[l].node.Reachable(); !slices.Equal(got, []string{"n1", "n2"}) {
			return errNotConverged
		}
		return nil
	})
	// Give the outsider several heartbeat rounds in which it could have
	// received entries, then check it learned nothing.
	time.Sleep(time.Second)
	if got := outsider.fsm.get(); len(got) != 0 {
		t.Fatalf("foreign-CA member applied %d entries", len(got))
	}
	if st := outsider.node.Stats(); st.State == "Leader" || st.LeaderID != "" || st.AppliedIndex > 1 {
		t.Fatalf("foreign-CA member stats %+v", st)
	}
	if id, _ := c.members[l].node.Leader(); id == "n3" {
		t.Fatal("foreign-CA member became leader")
	}
}

func TestTLSRejectsClientWithoutCertificate(t *testing.T) {
	ca := consensustest.NewCA(t, "keyquorum-test-ca")
	c := newCluster(t, 1, func(id string) *tls.Config { return ca.MemberTLS(t, id) }, nil)
	c.leader()
	conf := &tls.Config{RootCAs: ca.Pool(), MinVersion: tls.VersionTLS13}
	conn, err := tls.Dial("tcp", c.members[0].cfg.RaftAddr, conf)
	if err == nil {
		defer conn.Close()
		// In TLS 1.3 the server checks the client certificate after the
		// client finishes; the rejection surfaces on the first read.
		_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err = conn.Write([]byte{0}); err == nil {
			_, err = conn.Read(make([]byte, 1))
		}
	}
	var ne net.Error
	if err == nil || (errors.As(err, &ne) && ne.Timeout()) {
		t.Fatalf("client without certificate: %v, want the server to reject it", err)
	}
	t.Logf("rejected: %v", err)
}
