package tss

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/keyquorum/keyquorum/tss/inbox"
	"github.com/keyquorum/keyquorum/tss/msgcheck"
)

// session is one protocol run on this node: its tss-lib parties (one, or
// for resharing one per committee this node is in), their wiring to node
// IDs, a bounded inbox and two goroutines. The worker (the goroutine that
// called Keygen, Sign or Reshare, inside run) is the only one that calls
// Start, Update and WaitingFor, so tss-lib state is touched from one
// goroutine at a time. The drain goroutine reads the parties' shared out
// channel and their end channels and hands messages to Transport.Send, which
// only queues: tss-lib emits messages while holding its own lock inside
// Update, so whatever reads out must never wait on the network. A message
// from one local party to the other (resharing) is parsed from its wire
// bytes like a remote one and queued in the inbox, never handed over
// directly.
//
// Parking (presignatures, ECDSA only): a caller may set hold before run. The
// worker asks hold about every inbound message; held messages keep their
// dedup slot but are not given to tss-lib until release(bind) is called. The
// worker then runs bind and delivers the held messages, in that order, on the
// worker goroutine. A presignature pool plugs in as follows: start an ECDSA
// sign session with its own random placeholder message below N, with hold
// matching "binance.tsslib.ecdsa.signing.SignRound4Message" (the party
// stores its own round-4 message and stops once the others' are withheld),
// keep the run going under a pool-owned expiry instead of SessionTimeout, and
// once Raft commits the SignRequested entry that names the presignature,
// check the digest against N and call release with a bind that does
// placeholder.SetBytes(digest). The placeholder must not be touched again
// until the signature is out.
type session struct {
	id     SessionID
	kind   string
	self   string
	w      wiring
	member map[string]bool // every node of the session, for a cheap first check
	tr     Transport
	log    *slog.Logger
	prefix string // accepted tss-lib message type prefix

	parties []tsslib.Party            // local parties, indexed as wiring reports
	drain   func(ctx context.Context) // started by run; reads out and end

	inbox    *inbox.Inbox
	check    *msgcheck.Checker[inbound] // worker goroutine only; set by the protocol's constructor
	out      chan tsslib.Message
	results  chan any   // capacity 1: the session's end value
	failed   chan error // capacity 1: first asynchronous failure
	done     chan struct{}
	poisoned atomic.Bool

	hold      func(msgType, from string) bool // worker goroutine only
	held      []inbound                       // worker goroutine only
	heldCount atomic.Int32                    // len(held), for a pool to see "parked"
	onHold    func(held int)                  // worker goroutine only; called after each held message
	timeout   time.Duration                   // overrides Config.SessionTimeout when set
	release   chan func()                     // capacity 1
	// gate, when set, bounds how many heavy protocol steps compute at once
	// on this node (Engine.heavy); worker goroutine only.
	gate chan struct{}

	// message is the ECDSA signing party's message integer; tss-lib keeps
	// the pointer. Only a bind passed to releaseHeld may change it.
	message *big.Int
}

// newSession builds a session over w. msgTypes is the protocol's number of
// message types; each member may fill one inbox slot per type.
func newSession(id SessionID, kind, self string, w wiring, tr Transport, log *slog.Logger, prefix string, msgTypes int) *session {
	members := w.members()
	n := len(members)
	member := make(map[string]bool, n)
	for _, m := range members {
		member[m] = true
	}
	return &session{
		id: id, kind: kind, self: self, w: w, member: member, tr: tr, prefix: prefix,
		log:     log.With("session", id.String(), "kind", kind),
		inbox:   inbox.New(msgTypes * w.senders()),
		out:     make(chan tsslib.Message, 4*msgTypes*n+16),
		results: make(chan any, 1),
		failed:  make(chan error, 1),
		done:    make(chan struct{}),
		release: make(chan func(), 1),
	}
}

// accept parses an inbound message from an authenticated member and claims
// its slot. Safe for concurrent use; never blocks on protocol work.
func (s *session) accept(m Message) error {
	if m.From == s.self || !s.member[m.From] {
		return fmt.Errorf("%w: %q", ErrNotMember, m.From)
	}
	// The type decides, for resharing, which of the sender's parties sent
	// it and which local party it is for, so read it before parsing.
	msgType, err := wireType(m.Payload)
	if err != nil {
		return s.unparsable(m, "", "payload is not a tss-lib wire message")
	}
	if !strings.HasPrefix(msgType, s.prefix) {
		// The type is not parsed yet: quote a bounded prefix only.
		return s.unparsable(m, fmt.Sprintf("%.64s", msgType), "message type of another protocol")
	}
	pid, to, err := s.w.inbound(m.From, msgType)
	if err != nil {
		return err
	}
	parsed, err := s.parse(m.Payload, pid, m.Broadcast, msgType)
	if err != nil {
		return s.unparsable(m, msgType, "payload does not parse as its type or fails tss-lib's ValidateBasic")
	}
	return s.put(inbound{From: m.From, Msg: parsed, To: to})
}

// put claims in's slot and queues it. It returns ErrDuplicate for a
// filled slot and ErrBadMessage when the senders have used up the slots.
func (s *session) put(in inbound) error {
	switch s.inbox.Put(in) {
	case inbox.Duplicate:
		return ErrDuplicate
	case inbox.Full:
		return ErrBadMessage
	}
	return nil
}

// unparsable ends the session naming m's sender, which is a committee
// member that sent this session a payload no honest member makes
// (delivery is authenticated and intact): dropping it would leave the
// session waiting for a message that never comes, and the sender
// unblamed. It returns the error for the transport.
func (s *session) unparsable(m Message, msgType, detail string) error {
	s.fail(&CheckError{Member: m.From, Type: msgType, Check: CheckParse, Detail: detail, Evidence: sha256.Sum256(m.Payload)})
	return fmt.Errorf("%w: type %.64q from %q", ErrBadMessage, msgType, m.From)
}

// wireType returns the protobuf message name inside a tss-lib wire payload
// (an Any) without decoding the message itself.
func wireType(payload []byte) (string, error) {
	var a anypb.Any
	if err := proto.Unmarshal(payload, &a); err != nil {
		return "", err
	}
	return string(a.MessageName()), nil
}

// parse decodes a payload sent by pid and checks it is well formed and of
// the type it announced.
func (s *session) parse(payload []byte, pid *tsslib.PartyID, broadcast bool, msgType string) (tsslib.ParsedMessage, error) {
	var parsed tsslib.ParsedMessage
	var perr error
	valid := false
	err := intoLib("parse", s.w, nil, func() *tsslib.Error {
		parsed, perr = tsslib.ParseWireMessage(payload, pid, broadcast)
		valid = perr == nil && parsed != nil && parsed.ValidateBasic() && parsed.Type() == msgType
		return nil
	})
	if err != nil || !valid {
		return nil, ErrBadMessage
	}
	return parsed, nil
}

// run drives the party until it produces its end value or fails. ctx carries
// the session deadline.
func (s *session) run(ctx context.Context) (any, error) {
	defer close(s.done)
	go s.drain(ctx)
	for _, p := range s.parties {
		if err := s.step(ctx, func() error { return intoLib("start", s.w, s.poison, p.Start) }); err != nil {
			return nil, s.abort(err)
		}
	}
	for {
		select {
		case r := <-s.results:
			return r, nil
		case err := <-s.failed:
			return nil, s.abort(err)
		case <-s.inbox.Notify():
			for _, in := range s.inbox.Take() {
				ready, err := s.vet(in)
				if err != nil {
					return nil, s.abort(err)
				}
				for _, in := range ready {
					if err := s.deliver(ctx, in); err != nil {
						return nil, s.abort(err)
					}
				}
			}
		case bind := <-s.release:
			bind()
			// What follows the release is a signature's online phase.
			s.gate = nil
			s.hold = nil
			held := s.held
			s.held = nil
			s.heldCount.Store(0)
			for _, in := range held {
				if err := s.update(ctx, in); err != nil {
					return nil, s.abort(err)
				}
			}
		case <-ctx.Done():
			return nil, s.expired(ctx)
		}
	}
}

// vet runs the session's checker on an inbound message and returns the
// messages that may now go to tss-lib. Messages between this node's own
// local parties were made by tss-lib here and are not re-checked.
func (s *session) vet(in inbound) ([]inbound, error) {
	if in.From == s.self {
		return []inbound{in}, nil
	}
	if s.check == nil {
		return nil, fmt.Errorf("tss: %s session has no message checker", s.kind)
	}
	return s.check.Admit(in)
}

// deliver parks a checked message if the session holds its type, or hands
// it to tss-lib.
func (s *session) deliver(ctx context.Context, in inbound) error {
	if s.hold != nil && s.hold(in.Msg.Type(), in.From) {
		s.held = append(s.held, in)
		s.heldCount.Store(int32(len(s.held)))
		if s.onHold != nil {
			s.onHold(len(s.held))
		}
		return nil
	}
	return s.update(ctx, in)
}

// releaseHeld asks the worker to run bind and then deliver the held
// messages. It may be called once; later calls return an error.
func (s *session) releaseHeld(bind func()) error {
	select {
	case s.release <- bind:
		return nil
	default:
		return errors.New("tss: session already released")
	}
}

// update hands an inbound message to each local party it is for. A message
// for two local parties is the same parsed value; tss-lib only reads it.
func (s *session) update(ctx context.Context, in inbound) error {
	for _, i := range in.To {
		if i < 0 || i >= len(s.parties) {
			return fmt.Errorf("tss: no local party %d", i)
		}
		p := s.parties[i]
		err := s.step(ctx, func() error {
			return intoLib("update", s.w, s.poison, func() *tsslib.Error {
				_, e := p.Update(in.Msg)
				return e
			})
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// step runs one call into tss-lib, which may compute a whole protocol
// round. A heavy session first takes a token of its gate, so that keygens,
// reshares and presignatures together leave a core free however many run.
func (s *session) step(ctx context.Context, fn func() error) error {
	if s.gate == nil {
		return fn()
	}
	select {
	case s.gate <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	defer func() { <-s.gate }()
	return fn()
}

// send frames one outbound tss-lib message for the nodes the wiring names
// and queues a copy for each other local party it is for.
func (s *session) send(ctx context.Context, m tsslib.Message) error {
	var payload []byte
	var routing *tsslib.MessageRouting
	err := intoLib("wire", s.w, s.poison, func() *tsslib.Error {
		var e error
		payload, routing, e = m.WireBytes()
		if e != nil {
			return tsslib.NewError(e, s.kind, -1, nil)
		}
		return nil
	})
	if err != nil {
		return err
	}
	d, err := s.w.outbound(m.Type(), routing)
	if err != nil {
		return err
	}
	if len(d.local) > 0 {
		parsed, err := s.parse(payload, routing.From, d.broadcast, m.Type())
		if err != nil {
			return fmt.Errorf("tss: local delivery: %w", err)
		}
		if err := s.put(inbound{From: s.self, Msg: parsed, To: d.local}); err != nil {
			return fmt.Errorf("tss: local delivery: %w", err)
		}
	}
	if len(d.nodes) == 0 {
		return nil
	}
	out := Message{Session: s.id, From: s.self, To: d.nodes, Broadcast: d.broadcast, Payload: payload}
	if err := s.tr.Send(ctx, out); err != nil {
		return &AbortError{Session: s.id, Stalled: out.To, Err: fmt.Errorf("tss: send: %w", err)}
	}
	return nil
}

// drainParty is the drain goroutine: it forwards out to the transport and
// end to results until the worker finishes. It keeps reading out even after
// a send failure so tss-lib never blocks.
func drainParty[T any](ctx context.Context, s *session, end <-chan T) {
	for {
		select {
		case m := <-s.out:
			if err := s.send(ctx, m); err != nil {
				s.fail(err)
			}
		case r := <-end:
			select {
			case s.results <- r:
			default:
			}
		case <-s.done:
			return
		}
	}
}

func (s *session) fail(err error) {
	select {
	case s.failed <- err:
	default:
	}
}

func (s *session) poison(err error) {
	s.poisoned.Store(true)
	s.fail(err)
}

func (s *session) abort(err error) error {
	var ae *AbortError
	if errors.As(err, &ae) {
		return ae
	}
	out := &AbortError{Session: s.id, Err: err}
	var pe *protoError
	var ce *CheckError
	switch {
	case errors.As(err, &ce):
		out.Culprits = []string{ce.Member}
	case errors.As(err, &pe):
		out.Culprits = pe.culprits
	}
	return out
}

// expired builds the error for a session whose ctx ended, naming the members
// this node is still waiting for.
func (s *session) expired(ctx context.Context) error {
	cause := ctx.Err()
	if errors.Is(cause, context.DeadlineExceeded) {
		cause = ErrTimeout
	}
	return &AbortError{Session: s.id, Stalled: s.stalled(), Err: cause}
}

// stalled asks tss-lib whom the current round waits for; if a party is
// poisoned (its lock may be held) or none says anything, it falls back to
// members that sent fewer messages than the most active one.
func (s *session) stalled() []string {
	var names []string
	if !s.poisoned.Load() {
		var ws []*tsslib.PartyID
		for _, p := range s.parties {
			_ = intoLib("waiting", s.w, s.poison, func() *tsslib.Error {
				ws = append(ws, p.WaitingFor()...)
				return nil
			})
		}
		for _, n := range s.w.names(ws) {
			if n != s.self && !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	if len(names) > 0 {
		slices.Sort(names)
		return names
	}
	got := s.inbox.Received()
	most := 0
	for _, c := range got {
		most = max(most, c)
	}
	for _, n := range s.w.members() {
		if n != s.self && (most == 0 || got[n] < most) {
			names = append(names, n)
		}
	}
	return names
}
