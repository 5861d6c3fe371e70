package tss

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"log/slog"
	"math/big"
	"strings"
	"testing"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	decredecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// fuzzProtocols are the sessions an inbound message can be for, picked by
// the fuzzer's kind byte.
var fuzzProtocols = []struct {
	alg    Algorithm
	prefix string
	types  int
}{
	{ECDSASecp256k1, ecdsaKeygenPrefix, ecdsaKeygenTypes},
	{Ed25519, eddsaKeygenPrefix, eddsaKeygenTypes},
	{ECDSASecp256k1, ecdsaSignPrefix, ecdsaSignTypes},
	{Ed25519, eddsaSignPrefix, eddsaSignTypes},
}

type dropTransport struct{}

func (dropTransport) Send(context.Context, Message) error { return nil }

// fuzzSession is a session of n1, n2 and n3 on n1, as Keygen and Sign
// build it, with no tss-lib party: accept never reaches one.
func fuzzSession(t *testing.T, kind byte) *session {
	p := fuzzProtocols[int(kind)%len(fuzzProtocols)]
	ec, _ := curveFor(p.alg)
	c, err := newCommittee([]string{"n1", "n2", "n3"}, func(n string) *big.Int { return partyKey(p.alg, n, 0) }, ec.Params().N)
	if err != nil {
		t.Fatal(err)
	}
	return newSession(SessionID{1}, "fuzz", "n1", solo(c, "n1"), dropTransport{}, slog.New(slog.DiscardHandler), p.prefix, p.types)
}

// FuzzInboundMessage feeds arbitrary payloads from an authenticated member
// through the path from the network to the inbox: wireType, tss-lib's
// ParseWireMessage and ValidateBasic, and the slot check. It must not
// panic, and tss-lib's parser must not need the engine's recover to stay
// up. An accepted message fills exactly one slot, is of the session's
// protocol and of the type its wrapper announced, is routed from the
// authenticated sender, and a replay of it is a duplicate. A refusal is
// ErrBadMessage. Through Engine.Deliver, a payload above MaxMessageBytes
// is refused before parsing.
func FuzzInboundMessage(f *testing.F) {
	for kind := range fuzzProtocols {
		wrapped := &anypb.Any{TypeUrl: "type.googleapis.com/" + fuzzProtocols[kind].prefix + "KGRound2Message1"}
		b, err := proto.Marshal(wrapped)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, byte(kind), false)
	}
	f.Fuzz(func(t *testing.T, payload []byte, kind byte, broadcast bool) {
		var parsed tsslib.ParsedMessage
		func() {
			defer func() {
				if r := recover(); r != nil {
					t.Fatalf("ParseWireMessage panicked: %v", r)
				}
			}()
			from := tsslib.NewPartyID("n2", "n2", big.NewInt(2))
			if m, err := tsslib.ParseWireMessage(payload, from, broadcast); err == nil && m != nil {
				m.ValidateBasic()
				parsed = m
			}
		}()

		s := fuzzSession(t, kind)
		err := s.accept(Message{Session: s.id, From: "n2", Broadcast: broadcast, Payload: payload})
		if err != nil {
			if !errors.Is(err, ErrBadMessage) {
				t.Fatalf("accept refused with %v, want ErrBadMessage", err)
			}
			if q := s.inbox.Take(); len(q) != 0 {
				t.Fatalf("a refused message was queued: %d", len(q))
			}
			return
		}
		if parsed == nil {
			t.Fatal("accept took a payload ParseWireMessage refuses")
		}
		q := s.inbox.Take()
		if len(q) != 1 || q[0].From != "n2" || len(q[0].To) != 1 || q[0].To[0] != 0 {
			t.Fatalf("accepted message queued as %+v", q)
		}
		in := q[0]
		typ, _ := wireType(payload)
		switch {
		case in.Msg.Type() != typ || !strings.HasPrefix(typ, s.prefix):
			t.Fatalf("accepted a %q as %q in a %q session", typ, in.Msg.Type(), s.prefix)
		case in.Msg.GetFrom() == nil || in.Msg.GetFrom().Id != "n2" || in.Msg.IsBroadcast() != broadcast:
			t.Fatalf("accepted message routed as from %v, broadcast %v", in.Msg.GetFrom(), in.Msg.IsBroadcast())
		}
		if err := s.accept(Message{Session: s.id, From: "n2", Broadcast: broadcast, Payload: payload}); !errors.Is(err, ErrDuplicate) {
			t.Fatalf("replay: %v, want ErrDuplicate", err)
		}
		if err := s.accept(Message{Session: s.id, From: "n9", Broadcast: broadcast, Payload: payload}); !errors.Is(err, ErrNotMember) {
			t.Fatalf("from a non-member: %v, want ErrNotMember", err)
		}

		cfg := DefaultConfig()
		cfg.MaxMessageBytes = 1024
		cfg.MaxPendingBytes = 1024
		e, err := NewEngine(cfg, "n1", dropTransport{}, nil)
		if err != nil {
			t.Fatal(err)
		}
		huge := append(bytes.Repeat([]byte{0}, cfg.MaxMessageBytes+1-min(len(payload), cfg.MaxMessageBytes)), payload...)
		if err := e.Deliver(Message{Session: s.id, From: "n2", Payload: huge}); !errors.Is(err, ErrMessageTooLarge) {
			t.Fatalf("a %d-byte payload: %v, want ErrMessageTooLarge", len(huge), err)
		}
	})
}

// FuzzParsePublicKeyPEM feeds arbitrary text to the parser of the public
// keys kq prints. It must not panic; an accepted key has its algorithm's
// size, encodes back with PublicKeyPEM and parses again to the same key.
func FuzzParsePublicKeyPEM(f *testing.F) {
	ed := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public().(ed25519.PublicKey)
	k1 := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{2}, 32)).PubKey()
	for _, k := range []struct {
		alg Algorithm
		pub []byte
	}{{Ed25519, ed}, {ECDSASecp256k1, k1.SerializeCompressed()}} {
		s, err := PublicKeyPEM(k.alg, k.pub)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(s)
		f.Add(strings.ReplaceAll(s, "\n", "\r\n") + "\n")
	}
	f.Fuzz(func(t *testing.T, s string) {
		alg, pub, err := ParsePublicKeyPEM(s)
		if err != nil {
			if alg != 0 || pub != nil {
				t.Fatalf("refused with %v but returned %v %x", err, alg, pub)
			}
			return
		}
		switch {
		case alg == Ed25519 && len(pub) != ed25519.PublicKeySize:
		case alg == ECDSASecp256k1 && (len(pub) != 33 || (pub[0] != 2 && pub[0] != 3)):
		case alg != Ed25519 && alg != ECDSASecp256k1:
		default:
			again, err := PublicKeyPEM(alg, pub)
			if err != nil {
				t.Fatalf("PublicKeyPEM of a parsed key: %v", err)
			}
			alg2, pub2, err := ParsePublicKeyPEM(again)
			if err != nil || alg2 != alg || !bytes.Equal(pub2, pub) {
				t.Fatalf("round trip: %v %x %v, want %v %x", alg2, pub2, err, alg, pub)
			}
			return
		}
		t.Fatalf("accepted a %d-byte key of algorithm %v", len(pub), alg)
	})
}

// FuzzVerifySignature feeds arbitrary keys, messages and signatures to
// Verify, which parses the DER signatures and SEC1 keys that reach a node
// from `kq verify`. It must not panic, and a signature it accepts has one
// encoding: strict DER with low s for ECDSA (so it re-serialises to the
// same bytes), 64 bytes for Ed25519.
func FuzzVerifySignature(f *testing.F) {
	digest := bytes.Repeat([]byte{0x42}, 32)
	priv := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{3}, 32))
	sig := decredecdsa.Sign(priv, digest).Serialize()
	f.Add(byte(ECDSASecp256k1), priv.PubKey().SerializeCompressed(), digest, sig)
	f.Add(byte(ECDSASecp256k1), priv.PubKey().SerializeUncompressed(), digest, sig)
	edPriv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{4}, 32))
	f.Add(byte(Ed25519), []byte(edPriv.Public().(ed25519.PublicKey)), []byte("hello"), ed25519.Sign(edPriv, []byte("hello")))
	f.Fuzz(func(t *testing.T, alg byte, pub, msg, sig []byte) {
		if !Verify(Algorithm(alg), pub, msg, sig) {
			return
		}
		switch Algorithm(alg) {
		case ECDSASecp256k1:
			s, err := decredecdsa.ParseDERSignature(sig)
			if err != nil || !bytes.Equal(s.Serialize(), sig) || len(msg) != 32 {
				t.Fatalf("accepted a signature with another encoding: %x (%v)", sig, err)
			}
		case Ed25519:
			if len(sig) != ed25519.SignatureSize || len(pub) != ed25519.PublicKeySize {
				t.Fatalf("accepted a %d-byte signature under a %d-byte key", len(sig), len(pub))
			}
		default:
			t.Fatalf("accepted a signature of unknown algorithm %d", alg)
		}
	})
}
