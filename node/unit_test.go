package node

import (
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/fsmtest"
	"github.com/keyquorum/keyquorum/node/clock"
	"github.com/keyquorum/keyquorum/node/clocksync"
)

// A member may forward only its own reports: otherwise one compromised
// node could claim shares or signatures for another.
func TestMembersReportOnlyForThemselves(t *testing.T) {
	cases := []struct {
		cmd  fsm.Command
		from string
		ok   bool
	}{
		{&fsm.ShareStored{Node: "n2"}, "n2", true},
		{&fsm.ShareStored{Node: "n2"}, "n3", false},
		{&fsm.SignCompleted{Node: "n1"}, "n1", true},
		{&fsm.SignCompleted{Node: "n1"}, "n2", false},
		{&fsm.KeygenFailed{Node: "n3"}, "n1", false},
		{&fsm.PreParamsReady{Node: "n3"}, "n3", true},
		{&fsm.CreateKey{Name: "k"}, "n1", false}, // leader commands never come from members
		{&fsm.SignRequested{RequestID: "r"}, "n1", false},
		{&fsm.SignFailed{RequestID: "r"}, "n1", false},
	}
	for _, c := range cases {
		err := checkReporter(c.cmd, c.from)
		if (err == nil) != c.ok {
			t.Errorf("%s from %s: err=%v, want ok=%v", c.cmd.Type(), c.from, err, c.ok)
		}
		if err != nil && status.Code(err) != codes.PermissionDenied {
			t.Errorf("%s from %s: code %v", c.cmd.Type(), c.from, status.Code(err))
		}
	}
}

// TestLostMemberNamesRestartedAndSilentMembers: the leader gives up an
// attempt at once when a committee member answers the clock probe from a
// process life the log does not record yet (its NodeBooted entry, when it
// comes, would end the attempt anyway) or when every probe of it has
// failed for silentGrace (a paused process, which raft notices late); a
// member answering from its recorded life, or merely not probed lately,
// is not lost.
func TestLostMemberNamesRestartedAndSilentMembers(t *testing.T) {
	m := fsmtest.New(t)
	for _, id := range []string{"n1", "n2", "n3"} {
		if res := m.Apply(&fsm.NodeBooted{Node: id, Boot: "b-" + id, Protocol: fsm.MaxProtocol}); res.Err != nil {
			t.Fatal(res.Err)
		}
	}
	now := time.Now()
	c, err := clocksync.New("n1", clock.System{}, time.Second, false, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.Answered("n2", clocksync.Answer{Index: m.Index(), Boot: "b-n2", At: now}, true, now)
	n := &Node{fsm: m.FSM, clocks: c}
	n.self.ID = "n1"
	s := newSupervisor(n)
	p := &fsm.Sign{RequestID: "r", Attempt: 1, Committee: []string{"n1", "n2"}, SessionIndex: m.Index()}
	if got := s.lostMember(p, now); got != "" {
		t.Fatalf("lostMember = %q with every member answering from its recorded life", got)
	}
	c.Answered("n2", clocksync.Answer{Index: m.Index(), Boot: "b-n2-again", At: now}, true, now)
	if got := s.lostMember(p, now); got != "n2 restarted" {
		t.Fatalf("lostMember = %q, want n2 restarted before its NodeBooted is applied", got)
	}
	c.Answered("n2", clocksync.Answer{Index: m.Index(), Boot: "b-n2", At: now.Add(-time.Minute)}, true, now.Add(-time.Minute))
	if got := s.lostMember(p, now); got != "" {
		t.Fatalf("lostMember = %q for a member with an old answer and no failed probe", got)
	}
	c.Answered("n2", clocksync.Answer{}, false, now.Add(-silentGrace-time.Millisecond))
	if got := s.lostMember(p, now); got != "n2 silent" {
		t.Fatalf("lostMember = %q, want n2 silent after its probes failed for %s", got, silentGrace)
	}
}
