package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/url"
	"slices"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/consensus/fsm"
	"github.com/keyquorum/keyquorum/consensus/fsm/signs"
	"github.com/keyquorum/keyquorum/node/bypass"
	"github.com/keyquorum/keyquorum/node/config"
	"github.com/keyquorum/keyquorum/node/members"
	"github.com/keyquorum/keyquorum/tss"
)

// The PeerService calls a fuzz input stands for, by its first byte.
const (
	fuzzExchange byte = iota
	fuzzPropose
	fuzzSignCommitted
	fuzzRPCs
)

type fuzzNoSend struct{}

func (fuzzNoSend) Send(context.Context, tss.Message) error { return nil }

// fuzzPeerCtx is a call from member n2 of cluster c as the TLS layer
// reports it: a verified chain whose leaf names spiffe://c/node/n2.
func fuzzPeerCtx() context.Context {
	leaf := &x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "c", Path: "/node/n2"}}}
	ca := &x509.Certificate{URIs: []*url.URL{{Scheme: "spiffe", Host: "c"}}}
	info := credentials.TLSInfo{State: tls.ConnectionState{VerifiedChains: [][]*x509.Certificate{{leaf, ca}}}}
	return peer.NewContext(context.Background(), &peer.Peer{AuthInfo: info})
}

// fuzzExchangeStream replays decoded frames to Exchange as gRPC would: a
// frame that does not unmarshal ends the stream with an error.
type fuzzExchangeStream struct {
	grpc.ServerStream
	ctx    context.Context
	frames [][]byte
	acks   []*kqpb.ExchangeAck
}

func (s *fuzzExchangeStream) Context() context.Context { return s.ctx }

func (s *fuzzExchangeStream) Recv() (*kqpb.RoundMessage, error) {
	if len(s.frames) == 0 {
		return nil, io.EOF
	}
	m := &kqpb.RoundMessage{}
	err := proto.Unmarshal(s.frames[0], m)
	s.frames = s.frames[1:]
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	return m, nil
}

func (s *fuzzExchangeStream) Send(a *kqpb.ExchangeAck) error {
	s.acks = append(s.acks, a)
	return nil
}

// fuzzFrames splits data into frames, each a 2-byte big-endian length and
// that many bytes (cut short at the end).
func fuzzFrames(data []byte) [][]byte {
	var out [][]byte
	for len(data) >= 2 {
		n := min(int(binary.BigEndian.Uint16(data)), len(data)-2)
		out = append(out, data[2:2+n])
		data = data[2+n:]
	}
	return out
}

func fuzzFramed(msgs ...proto.Message) []byte {
	var out []byte
	for _, m := range msgs {
		b, _ := proto.Marshal(m)
		out = binary.BigEndian.AppendUint16(out, uint16(len(b)))
		out = append(out, b...)
	}
	return out
}

// fuzzEntry is the sign request the SignCommitted inputs announce attempts of.
var fuzzEntry = &fsm.SignRequested{RequestID: "s1", Key: "k", Digest: bytes.Repeat([]byte{7}, 32), Committee: []string{"n1", "n2"}}

// FuzzPeerMessage feeds arbitrary bytes to the decoding half of every
// PeerService handler, as a member could send them. None may panic.
// Exchange: the real handler, over a stream of round messages, acks once
// with at most one rejection per message and at least one per malformed
// session id, and each message survives a protobuf round trip. Propose:
// a command passes the reporter check only if it is a report by the
// caller. SignCommitted: an announced attempt passes only if it is a
// first attempt of the entry, with the entry's key, digest and committee.
func FuzzPeerMessage(f *testing.F) {
	sid := tss.NewSessionID("c", "sign", 5, "s1", 1)
	f.Add(fuzzExchange, fuzzFramed(
		&kqpb.RoundMessage{SessionId: sid[:], To: []string{"n1"}, Broadcast: true, Payload: []byte("\n\x05hello")},
		&kqpb.RoundMessage{SessionId: sid[:4], To: []string{"n1", "n3"}}))
	report, _ := fsm.Encode(fsm.SignCompleted{RequestID: "s1", Attempt: 1, Node: "n2", Signature: []byte{1}})
	b, _ := proto.Marshal(&kqpb.ProposeRequest{Command: report})
	f.Add(fuzzPropose, b)
	other, _ := fsm.Encode(fsm.PreParamsReady{Node: "n3"})
	b, _ = proto.Marshal(&kqpb.ProposeRequest{Command: other})
	f.Add(fuzzPropose, b)
	att, _ := json.Marshal(fsm.Sign{RequestID: "s1", Key: "k", Digest: fuzzEntry.Digest, State: fsm.SignStatePending,
		Attempt: 1, Committee: fuzzEntry.Committee, SessionIndex: 5})
	dual, _ := json.Marshal(fsm.Sign{RequestID: signs.DualRequestID("s1", 2), Parent: "s1", Version: 2, Key: "k",
		Digest: fuzzEntry.Digest, State: fsm.SignStatePending, Attempt: 1, Committee: fuzzEntry.Committee, SessionIndex: 5})
	b, _ = proto.Marshal(&kqpb.CommittedSign{Index: 5, Term: 2, Signs: [][]byte{att, dual}})
	f.Add(fuzzSignCommitted, b)

	c := config.DefaultCluster()
	c.ID = "c"
	c.Nodes = []config.NodeConfig{{ID: "n1"}, {ID: "n2"}, {ID: "n3"}}
	f.Fuzz(func(t *testing.T, rpc byte, data []byte) {
		switch rpc % fuzzRPCs {
		case fuzzExchange:
			fuzzExchangeCall(t, &c, data)
		case fuzzPropose:
			var req kqpb.ProposeRequest
			if proto.Unmarshal(data, &req) != nil {
				return
			}
			cmd, err := fsm.Decode(req.Command)
			if err != nil {
				return
			}
			err = checkReporter(cmd, "n2")
			r, isReport := cmd.(fsm.Report)
			switch {
			case err == nil && (!isReport || r.Reporter() != "n2"):
				t.Fatalf("n2 may propose %#v", cmd)
			case err != nil && status.Code(err) != codes.PermissionDenied:
				t.Fatalf("refusal %v is not PermissionDenied", err)
			case err != nil && isReport && r.Reporter() == "n2":
				t.Fatalf("n2 may not propose its own report %#v: %v", cmd, err)
			}
		case fuzzSignCommitted:
			var req kqpb.CommittedSign
			if proto.Unmarshal(data, &req) != nil || len(req.Signs) == 0 || len(req.Signs) > bypass.MaxAnnouncedAttempts {
				return
			}
			for _, raw := range req.Signs {
				var s fsm.Sign
				if json.Unmarshal(raw, &s) != nil || bypass.AttemptOf(fuzzEntry, req.Index, &s) != nil {
					continue
				}
				if s.Key != fuzzEntry.Key || !bytes.Equal(s.Digest, fuzzEntry.Digest) || !slices.Equal(s.Committee, fuzzEntry.Committee) ||
					s.Attempt != 1 || s.SessionIndex != req.Index || s.State != fsm.SignStatePending ||
					(s.RequestID != fuzzEntry.RequestID && s.Parent != fuzzEntry.RequestID) {
					t.Fatalf("accepted an attempt that is not the entry's: %+v", s)
				}
			}
		}
	})
}

func fuzzExchangeCall(t *testing.T, c *config.Cluster, data []byte) {
	e, err := tss.NewEngine(tss.DefaultConfig(), "n1", fuzzNoSend{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// The node admits peers by its replicated membership; a fresh FSM has
	// none yet, so cluster.yaml's nodes decide, as on a new cluster.
	fsm, err := fsm.NewFSM(fsm.DefaultFSMConfig(), fsmCrypto{})
	if err != nil {
		t.Fatal(err)
	}
	n := &Node{cluster: c, self: c.Nodes[0], log: slog.New(slog.DiscardHandler), engine: e, fsm: fsm, members: members.NewRoster(c, fsm)}
	frames := fuzzFrames(data)
	badIDs, decoded := 0, 0
	seqs := map[uint64]bool{} // the numbers a message may be acknowledged by
	for _, fr := range frames {
		var m kqpb.RoundMessage
		if proto.Unmarshal(fr, &m) != nil {
			break
		}
		decoded++
		if m.Seq != 0 {
			seqs[m.Seq] = true
		}
		if len(m.SessionId) != len(tss.SessionID{}) {
			badIDs++
		}
		b, err := proto.Marshal(&m)
		var back kqpb.RoundMessage
		if err != nil || proto.Unmarshal(b, &back) != nil || !proto.Equal(&m, &back) {
			t.Fatalf("round message does not survive a round trip: %v", err)
		}
	}
	s := &fuzzExchangeStream{ctx: fuzzPeerCtx(), frames: frames}
	err = (&peerService{n: n}).Exchange(s)
	// Acks of single messages name a seq some message carried; the one
	// answer at the end of a stream names none.
	var final []*kqpb.ExchangeAck
	for _, a := range s.acks {
		if a.Acked == 0 {
			final = append(final, a)
		} else if !seqs[a.Acked] {
			t.Fatalf("acknowledged seq %d, which no message carried", a.Acked)
		}
	}
	if decoded < len(frames) {
		if err == nil || len(final) != 0 {
			t.Fatalf("a stream with an undecodable frame ended with %v and %d final acks", err, len(final))
		}
		return
	}
	if err != nil || len(final) != 1 {
		t.Fatalf("Exchange: %v, %d final acks", err, len(final))
	}
	if r := final[0].Rejected; r > uint64(decoded) || r < uint64(badIDs) {
		t.Fatalf("%d of %d messages rejected, %d with a malformed session id", r, decoded, badIDs)
	}
	if errors.Is(err, io.EOF) || e.Running() != 0 {
		t.Fatal("the exchange started a session")
	}
}
