package recovery

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/raft"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
)

// TestForceChecksTheMembers: the node and every member must be in the
// cluster config, each named once, before the raft state is touched.
func TestForceChecksTheMembers(t *testing.T) {
	c := &config.Cluster{Nodes: []config.NodeConfig{{ID: "n1"}, {ID: "n2"}}}
	noFSM := func() (raft.FSM, error) { t.Fatal("FSM built before the members were checked"); return nil, nil }
	for members, want := range map[string]string{
		"n1,n9": `member "n9" is not in the cluster config`,
		"n1,n1": `member "n1" named twice`,
	} {
		_, err := Force(c, "n1", strings.Split(members, ","), time.Now(), noFSM)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("members %s: %v, want %q", members, err, want)
		}
	}
	if _, err := Force(c, "n9", []string{"n1"}, time.Now(), noFSM); err == nil || !strings.HasPrefix(err.Error(), `node: "n9" is not in the cluster config`) {
		t.Errorf("unknown node: %v", err)
	}
}

type reporter struct {
	reported []fsm.Command
	err      error
}

func (r *reporter) Encode(cmd fsm.Command) ([]byte, error) {
	r.reported = append(r.reported, cmd)
	return nil, nil
}
func (r *reporter) ReportOnce(context.Context, []byte) error { return r.err }

// TestReportTurnsTheNoteIntoAnEntry: the note becomes a ClusterRecovered
// entry and goes once appended; it stays while the report fails.
func TestReportTurnsTheNoteIntoAnEntry(t *testing.T) {
	dir := t.TempDir()
	log := slog.New(slog.DiscardHandler)
	r := &reporter{}
	if err := Report(context.Background(), dir, "n1", r, log); err != nil || len(r.reported) != 0 {
		t.Fatalf("no note: %v, reported %v", err, r.reported)
	}
	data, _ := json.Marshal(note{Members: []string{"n1"}, Previous: []string{"n1", "n2", "n3"}, LastIndex: 42, LastTerm: 3, At: 7})
	if err := os.WriteFile(filepath.Join(dir, noteFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	r.err = errors.New("no leader")
	if err := Report(context.Background(), dir, "n1", r, log); err == nil || err.Error() != "node: report recovery: no leader" {
		t.Fatalf("failed report: %v", err)
	}
	r.err = nil
	if err := Report(context.Background(), dir, "n1", r, log); err != nil {
		t.Fatal(err)
	}
	c := r.reported[1].(*fsm.ClusterRecovered)
	if c.RequestID != "recover-n1-42" || c.LastTerm != 3 || c.RecoveredAt != 7 || len(c.Previous) != 3 {
		t.Fatalf("reported %+v", c)
	}
	if _, err := os.Stat(filepath.Join(dir, noteFile)); !os.IsNotExist(err) {
		t.Fatalf("the note stays: %v", err)
	}
}
