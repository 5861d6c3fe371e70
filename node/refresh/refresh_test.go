package refresh

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/keys"
	"github.com/keyquorum/keyquorum/node/estimate"
	"github.com/keyquorum/keyquorum/node/metrics"
	"github.com/keyquorum/keyquorum/tss"
)

// fakeMember runs Go synchronously and records what the work asked of it.
type fakeMember struct {
	reports   []fsm.Command
	opened    int // old shares opened
	preParams int
	reshare   func(tss.ReshareRequest) (*tss.Share, error)
	req       tss.ReshareRequest
}

func (m *fakeMember) Report(_ context.Context, cmd fsm.Command) {
	m.reports = append(m.reports, cmd)
}
func (m *fakeMember) Go(f func()) { f() }
func (m *fakeMember) Share(context.Context, string, uint32, uint32) (*tss.Share, error) {
	m.opened++
	return nil, nil
}
func (m *fakeMember) Seal(context.Context, string, uint32, uint32, *tss.Share) error { return nil }
func (m *fakeMember) PreParams(context.Context) (*tss.PreParams, error) {
	m.preParams++
	return nil, nil
}
func (m *fakeMember) Reshare(_ context.Context, req tss.ReshareRequest) (*tss.Share, error) {
	m.req = req
	return m.reshare(req)
}

func newWork(self string, m *fakeMember) *Work {
	return New(Config{ClusterID: "c", Self: self, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Timeout: time.Minute,
		Metrics: metrics.New(metrics.Source{}), Took: estimate.New()}, m)
}

// testKey is an ECDSA key held by n1..n3 whose version 1 is being
// reshared by the committee n1, n2 to the holders n2, n3, n4.
func testKey() *fsm.Key {
	return &fsm.Key{Name: "k", Algorithm: "ecdsa-secp256k1", Threshold: 1, Members: []string{"n1", "n2", "n3"},
		Versions: []*fsm.Version{{Number: 1, State: fsm.KeyActive, Epoch: 0,
			Refresh: &keys.Refresh{Epoch: 1, Committee: []string{"n1", "n2"}, Members: []string{"n2", "n3", "n4"}}}}}
}

func TestStartOnlyForDealersAndNewHolders(t *testing.T) {
	m := &fakeMember{reshare: func(tss.ReshareRequest) (*tss.Share, error) {
		t.Fatal("a member with no part in the refresh ran it")
		return nil, nil
	}}
	newWork("n5", m).Start(context.Background(), testKey(), 1)
	newWork("n1", m).Start(context.Background(), testKey(), 2) // no such version
	if len(m.reports) != 0 {
		t.Fatalf("reports = %v, want none", m.reports)
	}
}

func TestDealerThatHoldsNothingReportsNothing(t *testing.T) {
	m := &fakeMember{reshare: func(tss.ReshareRequest) (*tss.Share, error) { return nil, nil }}
	newWork("n1", m).Start(context.Background(), testKey(), 1)
	if len(m.reports) != 0 {
		t.Fatalf("reports = %v, want none from a dealer that is no new holder", m.reports)
	}
	if m.opened != 1 || m.preParams != 0 {
		t.Fatalf("opened %d old shares and waited for %d pre-params; a dealer only needs its old share", m.opened, m.preParams)
	}
	if m.req.NewThreshold != 1 || m.req.Epoch != 1 || len(m.req.NewParties) != 3 {
		t.Fatalf("request = %+v", m.req)
	}
}

func TestNewHolderWithoutShareFails(t *testing.T) {
	m := &fakeMember{reshare: func(tss.ReshareRequest) (*tss.Share, error) { return nil, nil }}
	newWork("n4", m).Start(context.Background(), testKey(), 1)
	if m.opened != 0 || m.preParams != 1 {
		t.Fatalf("opened %d old shares and waited for %d pre-params; a receiving ECDSA holder needs only pre-params", m.opened, m.preParams)
	}
	want := fsm.RefreshFailed{Key: "k", Version: 1, Epoch: 1, Node: "n4", Reason: "node: refresh of k v1 gave this new holder no share"}
	if len(m.reports) != 1 || *m.reports[0].(*fsm.RefreshFailed) != want {
		t.Fatalf("reports = %v, want %+v", m.reports, want)
	}
}

func TestFailedReshareIsReported(t *testing.T) {
	m := &fakeMember{reshare: func(tss.ReshareRequest) (*tss.Share, error) { return nil, errors.New("peer gone") }}
	newWork("n2", m).Start(context.Background(), testKey(), 1)
	if len(m.reports) != 1 || m.reports[0].(*fsm.RefreshFailed).Reason != "peer gone" {
		t.Fatalf("reports = %v, want one RefreshFailed", m.reports)
	}
}
