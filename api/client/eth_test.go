package client_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"math/big"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/sha3"

	"github.com/keyquorum/keyquorum/api/client"
)

// The Ethereum proof checks an EIP-1559 transaction the way a node does:
// keccak-256 of the type byte and the RLP of the fields, public key
// recovery from (y_parity, r, s), address = last 20 bytes of the keccak-256
// of the point. go-ethereum would do this in one call (types.Sender), but
// it adds about 255 MB of modules and minutes of cgo build to the test,
// so the check is written out here, over an RLP decoder independent of the
// encoder, and pinned by known answers (keccak, RLP and address vectors).

func keccak(b ...[]byte) []byte {
	h := sha3.NewLegacyKeccak256()
	for _, x := range b {
		h.Write(x)
	}
	return h.Sum(nil)
}

// rlpString and rlpList encode per the Yellow Paper, appendix B.
func rlpString(b []byte) []byte {
	if len(b) == 1 && b[0] < 0x80 {
		return b
	}
	return append(rlpHeader(0x80, len(b)), b...)
}

func rlpList(items ...[]byte) []byte {
	payload := bytes.Join(items, nil)
	return append(rlpHeader(0xc0, len(payload)), payload...)
}

func rlpHeader(base byte, n int) []byte {
	if n <= 55 {
		return []byte{base + byte(n)}
	}
	l := new(big.Int).SetInt64(int64(n)).Bytes()
	return append([]byte{base + 55 + byte(len(l))}, l...)
}

// rlpUint encodes an integer: big-endian, no leading zeros, 0 as "".
func rlpUint(v *big.Int) []byte { return rlpString(v.Bytes()) }

// rlpDecodeList splits an RLP list into its items' payloads (strings only:
// an EIP-1559 transaction without an access list has no nested lists but
// the empty one, returned as its raw encoding).
func rlpDecodeList(b []byte) ([][]byte, error) {
	payload, rest, err := rlpItem(b, true)
	if err != nil || len(rest) != 0 {
		return nil, errors.New("rlp: not one list")
	}
	var out [][]byte
	for len(payload) > 0 {
		var item []byte
		if payload[0] >= 0xc0 {
			whole := payload
			_, payload, err = rlpItem(payload, true)
			item = whole[:len(whole)-len(payload)]
		} else {
			item, payload, err = rlpItem(payload, false)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, item)
	}
	return out, nil
}

func rlpItem(b []byte, list bool) (payload, rest []byte, err error) {
	if len(b) == 0 {
		return nil, nil, errors.New("rlp: empty")
	}
	base := byte(0x80)
	if list {
		base = 0xc0
	}
	p := b[0]
	switch {
	case !list && p < 0x80:
		return b[:1], b[1:], nil
	case p < base:
		return nil, nil, errors.New("rlp: wrong kind")
	case p <= base+55:
		n := int(p - base)
		if len(b) < 1+n {
			return nil, nil, errors.New("rlp: short")
		}
		return b[1 : 1+n], b[1+n:], nil
	default:
		ll := int(p - base - 55)
		if len(b) < 1+ll {
			return nil, nil, errors.New("rlp: short")
		}
		n := int(new(big.Int).SetBytes(b[1 : 1+ll]).Int64())
		if len(b) < 1+ll+n {
			return nil, nil, errors.New("rlp: short")
		}
		return b[1+ll : 1+ll+n], b[1+ll+n:], nil
	}
}

// ethAddress is the address of an uncompressed secp256k1 point.
func ethAddress(pub *secp256k1.PublicKey) []byte {
	return keccak(pub.SerializeUncompressed()[1:])[12:]
}

func TestEthereumChecksAgainstKnownAnswers(t *testing.T) {
	if got := hex.EncodeToString(keccak(nil)); got != "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470" {
		t.Fatalf("keccak256(\"\") = %s", got)
	}
	for _, tc := range []struct{ got, want []byte }{
		{rlpString([]byte("dog")), []byte{0x83, 'd', 'o', 'g'}},
		{rlpList(rlpString([]byte("cat")), rlpString([]byte("dog"))), []byte{0xc8, 0x83, 'c', 'a', 't', 0x83, 'd', 'o', 'g'}},
		{rlpUint(big.NewInt(0)), []byte{0x80}},
		{rlpUint(big.NewInt(15)), []byte{0x0f}},
		{rlpUint(big.NewInt(1024)), []byte{0x82, 0x04, 0x00}},
		{rlpList(), []byte{0xc0}},
	} {
		if !bytes.Equal(tc.got, tc.want) {
			t.Fatalf("rlp: got %x want %x", tc.got, tc.want)
		}
	}
	long := bytes.Repeat([]byte{'a'}, 56)
	if got := rlpString(long); !bytes.Equal(got[:2], []byte{0xb8, 56}) {
		t.Fatalf("rlp of 56 bytes starts %x", got[:2])
	}
	var one secp256k1.ModNScalar
	one.SetInt(1)
	if got := hex.EncodeToString(ethAddress(secp256k1.NewPrivateKey(&one).PubKey())); got != "7e5f4552091a69125d5dfcb7b8c2659029395bdf" {
		t.Fatalf("address of private key 1: %s", got)
	}
}

// eip1559Fields are an unsigned EIP-1559 transaction's fields, in order.
func eip1559Fields() [][]byte {
	to, _ := hex.DecodeString("3535353535353535353535353535353535353535")
	return [][]byte{
		rlpUint(big.NewInt(1)),     // chain id: mainnet
		rlpUint(big.NewInt(42)),    // nonce
		rlpUint(big.NewInt(2e9)),   // max priority fee per gas
		rlpUint(big.NewInt(100e9)), // max fee per gas
		rlpUint(big.NewInt(21000)), // gas limit
		rlpString(to),              // destination
		rlpUint(big.NewInt(1e15)),  // value in wei
		rlpString(nil),             // data
		rlpList(),                  // access list
	}
}

// TestEthereumEIP1559SenderIsTheKeysAddress: an EIP-1559 transaction signed
// through SignRecoverable recovers to the address of the key's public key.
func TestEthereumEIP1559SenderIsTheKeysAddress(t *testing.T) {
	s := signer(t, "ec")
	want := ethAddress(s.Public().(client.Secp256k1PublicKey).PublicKey)

	sigHash := keccak([]byte{0x02}, rlpList(eip1559Fields()...))
	sig, err := s.SignRecoverable(sigHash)
	if err != nil {
		t.Fatal(err)
	}
	signed := append([]byte{0x02}, rlpList(append(eip1559Fields(),
		rlpUint(big.NewInt(int64(sig[64]))),
		rlpUint(new(big.Int).SetBytes(sig[:32])),
		rlpUint(new(big.Int).SetBytes(sig[32:64])))...)...)
	t.Logf("signed transaction: 0x%x", signed)

	// What a node does with the raw transaction.
	if signed[0] != 0x02 {
		t.Fatal("not a type-2 transaction")
	}
	items, err := rlpDecodeList(signed[1:])
	if err != nil || len(items) != 12 {
		t.Fatalf("decode: %d items, %v", len(items), err)
	}
	var fields [][]byte
	for i, it := range items[:9] {
		if i == 8 {
			fields = append(fields, it) // the access list, already encoded
			continue
		}
		fields = append(fields, rlpString(it))
	}
	hash := keccak([]byte{0x02}, rlpList(fields...))
	if !bytes.Equal(hash, sigHash) {
		t.Fatal("the decoded transaction hashes differently")
	}
	parity, r, sv := items[9], items[10], items[11]
	if len(parity) > 1 || len(r) > 32 || len(sv) > 32 {
		t.Fatal("signature fields too long")
	}
	var v byte
	if len(parity) == 1 {
		v = parity[0]
	}
	var sScalar secp256k1.ModNScalar
	var padded [32]byte
	copy(padded[32-len(sv):], sv)
	sScalar.SetBytes(&padded)
	if v > 1 || sScalar.IsOverHalfOrder() {
		t.Fatalf("y parity %d, high s: a node rejects the transaction (EIP-2)", v)
	}
	compact := make([]byte, 65)
	compact[0] = 27 + v
	copy(compact[33-len(r):33], r)
	copy(compact[65-len(sv):], sv)
	pub, _, err := secpecdsa.RecoverCompact(compact, hash)
	if err != nil {
		t.Fatal(err)
	}
	if got := ethAddress(pub); !bytes.Equal(got, want) {
		t.Fatalf("sender 0x%x, key's address 0x%x", got, want)
	}
}
