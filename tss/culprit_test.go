package tss_test

import (
	"bytes"
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/tss"
)

func TestCorruptedMessageNamesCulprit(t *testing.T) {
	cfg := testConfig()
	cfg.SessionTimeout = time.Second // node-b waits for a round node-a never sends
	net, engines, shares := freshCluster(t, cfg)
	// node-b plays a cheater: its round-2 decommitment and proof are altered.
	net.SetRule(func(m *tss.Message, _ string) bool {
		if m.From == "node-b" && bytes.Contains(m.Payload, []byte("eddsa.signing.SignRound2Message")) {
			m.Payload[len(m.Payload)-1] ^= 0x01
		}
		return true
	})
	_, errs := signAll(context.Background(), engines, shares, newSID(t), committees[0], []byte("cheat"))
	var ae *tss.AbortError
	if !errors.As(errs["node-a"], &ae) {
		t.Fatalf("node-a: err = %v, want *AbortError", errs["node-a"])
	}
	if errors.Is(ae, tss.ErrTimeout) || !slices.Equal(ae.Culprits, []string{"node-b"}) {
		t.Fatalf("node-a: culprits = %v, err = %v; want [node-b]", ae.Culprits, ae)
	}
}
