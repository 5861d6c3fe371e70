// Package bypass is the leader-bypass attack, kept as deliberate bugs so
// that a test on real processes can show it succeed against the former
// early start (trust-announce) and fail against every member enforcing
// the policy itself (node/sign_start.go): the compromised leader's forged
// sign request, started and announced to its committee although its own
// replica refused it (leader-bypass), and the member that starts an
// attempt on the leader's announcement, before its own replica applied the
// entry (trust-announce). In release builds both bugs are constant false:
// Forge is never called and SignCommitted refuses every announcement.
package bypass

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/service"
)

// Member is what the attack and its victim need of the member they run in.
type Member interface {
	// Key returns a key of this member's replica.
	Key(name string) (*fsm.Key, bool)
	// PickCommittee picks threshold+1 reachable holders of k.
	PickCommittee(k *fsm.Key) ([]string, error)
	// ProposeEntry appends an entry as leader, without the hooks that
	// follow a proposal, and returns its result and index.
	ProposeEntry(ctx context.Context, cmd fsm.Command) (fsm.Result, uint64, error)
	// StartSign takes part in a signing attempt.
	StartSign(ctx context.Context, s *fsm.Sign)
	// CompanionOf returns the dual-sign companion the entry at index
	// started alongside s, if it did and the companion still runs.
	CompanionOf(index uint64, s *fsm.Sign) []*fsm.Sign
	// Term is the leader's raft term.
	Term() uint64
	// Peer returns member id's addresses, or false when id is no member.
	Peer(id string) (config.NodeConfig, bool)
	// Conn returns a connection to a member's peer address.
	Conn(addr string) (*grpc.ClientConn, error)
	// Go runs f on a goroutine the member waits for when it stops.
	Go(f func())
	// LeaderCommitted returns the entry at index once this member's log
	// confirms that leader committed it in term.
	LeaderCommitted(ctx context.Context, leader string, index, term uint64) (fsm.Command, error)
	// Announced queues signing attempts to start before their entry is
	// applied here.
	Announced(index uint64, signs []*fsm.Sign)
}

// Config is what the work is set up with.
type Config struct {
	Self string // this member's id
	Log  *slog.Logger
	// LeaderBypass and TrustAnnounce are the deliberate bugs.
	LeaderBypass, TrustAnnounce bool
}

// Work is a member's part in the attack, as leader or as victim.
type Work struct {
	cfg Config
	m   Member
	log *slog.Logger
}

// New returns a member's part in the attack.
func New(cfg Config, m Member) *Work { return &Work{cfg: cfg, m: m, log: cfg.Log} }

// ForgedPrefix marks the sign requests the leader-bypass bug forges.
const ForgedPrefix = "forged-"

// MaxAnnouncedAttempts bounds the attempts one announcement may carry: a
// request and its dual-sign companion.
const MaxAnnouncedAttempts = 2

// announceWait bounds how long a member waits for an announced entry to
// reach its own log.
const announceWait = 100 * time.Millisecond

// announceTimeout bounds the leader's announcement to one member.
const announceTimeout = 2 * time.Second

// Forge is what a compromised leader does with a sign request under
// the leader-bypass bug: it appends a sign entry with a forged handle for
// the named key, and although its own replica refuses the entry, it starts
// its part of the session and announces the attempt to the committee.
func (w *Work) Forge(ctx context.Context, req *kqpb.SignRequest) (*kqpb.SignResponse, error) {
	k, ok := w.m.Key(req.Key)
	if !ok || k.Version(k.Primary) == nil {
		return nil, status.Errorf(codes.NotFound, "leader-bypass: no key %q to forge a request for", req.Key)
	}
	committee, err := w.m.PickCommittee(k)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	cmd := &fsm.SignRequested{RequestID: req.RequestId, Key: k.Name, Handle: "forged", Digest: req.Digest,
		Committee: committee, Actor: "leader-bypass"}
	// Without the proposed hooks: the forged entry starts its session
	// here, and the refusal below is audited as a denial.
	r, index, err := w.m.ProposeEntry(ctx, cmd)
	if err != nil {
		return nil, service.ToStatus(err)
	}
	w.log.Warn("leader-bypass: appended a forged sign entry; starting it although this replica refused it", "index", index, "refusal", r.Err)
	s := &fsm.Sign{RequestID: cmd.RequestID, Key: k.Name, Version: k.Primary, Epoch: k.Version(k.Primary).Epoch,
		Digest: cmd.Digest, State: fsm.SignStatePending, Attempt: 1, Committee: committee, SessionIndex: index}
	w.announceSign(index, s)
	w.m.StartSign(context.WithoutCancel(ctx), s)
	return nil, status.Error(codes.PermissionDenied, "leader-bypass: forged request started")
}

// Signed logs a signature that came of a forged request, so a test
// can see whether the attack produced one.
func (w *Work) Signed(s *fsm.Sign, sig []byte) {
	if w.cfg.LeaderBypass && strings.HasPrefix(s.RequestID, ForgedPrefix) {
		w.log.Warn("leader-bypass: a forged request was signed", "request", s.RequestID, "signature", hex.EncodeToString(sig))
	}
}

// announceSign tells the other committee members of the attempts the entry
// at index started, before they apply it. Only the leader-bypass bug calls
// it. Best effort, in the background.
func (w *Work) announceSign(index uint64, s *fsm.Sign) {
	var signs [][]byte
	to := map[string]bool{} // the other members of the attempts' committees
	for _, a := range append([]*fsm.Sign{s}, w.m.CompanionOf(index, s)...) {
		b, err := json.Marshal(a)
		if err != nil {
			w.log.Error("encode signing attempt", "err", err)
			return
		}
		signs = append(signs, b)
		for _, m := range a.Committee {
			if m != w.cfg.Self {
				to[m] = true
			}
		}
	}
	msg := &kqpb.CommittedSign{Index: index, Term: w.m.Term(), Signs: signs}
	for id := range to {
		member, ok := w.m.Peer(id)
		if !ok {
			continue
		}
		w.m.Go(func() {
			conn, err := w.m.Conn(member.Peer)
			if err == nil {
				ctx, cancel := context.WithTimeout(context.Background(), announceTimeout)
				defer cancel()
				_, err = kqpb.NewPeerServiceClient(conn).SignCommitted(ctx, msg)
			}
			if err != nil {
				w.log.Debug("sign announcement not taken; the member starts when it applies the entry", "member", id, "index", index, "err", err)
			}
		})
	}
}

// SignCommitted serves a leader's announcement of a signing attempt. A
// release build refuses it: a member signs only for entries its own replica
// accepted. Under the trust-announce bug it does what keyquorum once did:
// it confirms from this node's own log that the entry is the request the
// attempts claim to come from, then queues them to start before the entry
// is applied here, which is exactly what a compromised leader needs.
func (w *Work) SignCommitted(ctx context.Context, from string, req *kqpb.CommittedSign) error {
	if !w.cfg.TrustAnnounce {
		return status.Error(codes.FailedPrecondition, "members start signing only for entries their own replica applied and accepted")
	}
	if len(req.Signs) == 0 || len(req.Signs) > MaxAnnouncedAttempts {
		return status.Errorf(codes.InvalidArgument, "announcement carries %d signing attempts; want 1 to %d", len(req.Signs), MaxAnnouncedAttempts)
	}
	// The entry may still be on its way here when the leader and the
	// other follower have committed it; beyond announceWait, raft's own
	// commit notice is as quick.
	wctx, cancel := context.WithTimeout(ctx, announceWait)
	defer cancel()
	cmd, err := w.m.LeaderCommitted(wctx, from, req.Index, req.Term)
	if err != nil {
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	entry, ok := cmd.(*fsm.SignRequested)
	if !ok {
		return status.Errorf(codes.InvalidArgument, "entry %d is a %s, not a sign request", req.Index, cmd.Type())
	}
	var mine []*fsm.Sign
	for _, raw := range req.Signs {
		var s fsm.Sign
		if err := json.Unmarshal(raw, &s); err != nil {
			return status.Errorf(codes.InvalidArgument, "signing attempt: %v", err)
		}
		if err := AttemptOf(entry, req.Index, &s); err != nil {
			return status.Errorf(codes.InvalidArgument, "entry %d: %v", req.Index, err)
		}
		if slices.Contains(s.Committee, w.cfg.Self) {
			mine = append(mine, &s)
		}
	}
	if len(mine) > 0 {
		w.m.Announced(req.Index, mine)
	}
	return nil
}

// AttemptOf checks that s is a first attempt the entry at index can have
// started: the request itself or its dual-sign companion, with the entry's
// key, digest and committee.
func AttemptOf(entry *fsm.SignRequested, index uint64, s *fsm.Sign) error {
	own := s.RequestID == entry.RequestID && s.Parent == "" && s.Presig == entry.Presig
	companion := s.Parent == entry.RequestID && s.RequestID == signs.DualRequestID(entry.RequestID, s.Version) && s.Presig == ""
	switch {
	case !own && !companion:
		return fmt.Errorf("attempt of request %q is not the entry's", s.RequestID)
	case s.Attempt != 1 || s.SessionIndex != index || s.State != fsm.SignStatePending:
		return fmt.Errorf("request %q: not a first attempt started by this entry", s.RequestID)
	case s.Key != entry.Key || !bytes.Equal(s.Digest, entry.Digest) || !slices.Equal(s.Committee, entry.Committee):
		return fmt.Errorf("request %q: key, digest or committee differ from the entry", s.RequestID)
	case entry.Version != 0 && own && s.Version != entry.Version:
		return fmt.Errorf("request %q: version differs from the entry", s.RequestID)
	}
	return nil
}
