package drift

import (
	"context"
	"runtime/debug"
	"testing"
	"time"

	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/node/config"
)

// TestBuildVersion: a VCS build is named by its short revision, marked
// when the tree was modified; a module build by its version.
func TestBuildVersion(t *testing.T) {
	vcs := &debug.BuildInfo{Main: debug.Module{Version: "(devel)"}, Settings: []debug.BuildSetting{
		{Key: "vcs.revision", Value: "0123456789abcdef"}, {Key: "vcs.modified", Value: "true"}}}
	if got := buildVersion(vcs); got != "0123456789ab+dirty" {
		t.Errorf("VCS build: %q", got)
	}
	if got := buildVersion(&debug.BuildInfo{Main: debug.Module{Version: "v1.2.3"}}); got != "v1.2.3" {
		t.Errorf("module build: %q", got)
	}
}

// TestLocalHoldsNoSecret: the CA appears as a hash ("unreadable" when
// the file is missing), never as its contents.
func TestLocalHoldsNoSecret(t *testing.T) {
	s := Local(&config.Cluster{Mode: config.ModeDev})
	if s["mode"] != config.ModeDev || s["tls.ca_sha256"] != "unreadable" || s["protocol.max"] == "" {
		t.Fatalf("Local = %v", s)
	}
}

type state struct {
	protocol uint32
	settings map[string]string
}

func (s state) Protocol() uint32                  { return s.protocol }
func (s state) Settings(string) map[string]string { return s.settings }

// TestReportOnlyWhatDiffers: a member reports its settings when the
// replicated state holds other ones for it, and only under protocol 2.
func TestReportOnlyWhatDiffers(t *testing.T) {
	mine := map[string]string{"mode": "dev"}
	for _, c := range []struct {
		st   state
		want bool
	}{
		{state{fsm.ProtocolV2, nil}, true},
		{state{fsm.ProtocolV2, map[string]string{"mode": "dev"}}, false},
		{state{fsm.ProtocolV1, nil}, false},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
		var got []fsm.Command
		Report(ctx, "n1", mine, c.st, func(_ context.Context, cmd fsm.Command) { got = append(got, cmd) })
		cancel()
		if (len(got) == 1) != c.want {
			t.Errorf("state %+v: reported %v", c.st, got)
		}
		if c.want && got[0].(*fsm.NodeSettings).Node != "n1" {
			t.Errorf("reported %+v", got[0])
		}
	}
}
