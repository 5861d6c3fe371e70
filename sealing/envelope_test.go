package sealing

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func testBinding() Binding {
	return Binding{ClusterID: "c1", NodeID: "n2", Kind: KindShare, KeyID: "k1", Version: 1, Epoch: 3}
}

func testEnvelope(t *testing.T) (*Envelope, []byte) {
	t.Helper()
	kek := bytes.Repeat([]byte{0x5a}, KEKSize)
	kek[0] = 1
	e, err := NewEnvelope(kek)
	if err != nil {
		t.Fatal(err)
	}
	return e, kek
}

// checkRoundTrip seals and opens one payload and checks that every single
// field change of the binding, and every flipped byte, is refused.
func checkRoundTrip(t *testing.T, s Sealer) {
	t.Helper()
	ctx := context.Background()
	b := testBinding()
	msg := bytes.Repeat([]byte("share-bytes "), 300)
	blob, err := s.Seal(ctx, b, msg)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(ctx, b, blob)
	if err != nil || !bytes.Equal(got, msg) {
		t.Fatalf("Open: %v (equal=%v)", err, bytes.Equal(got, msg))
	}
	if bytes.Contains(blob, msg[:12]) {
		t.Fatal("blob contains plaintext")
	}

	for name, mut := range map[string]func(*Binding){
		"cluster": func(b *Binding) { b.ClusterID = "c2" },
		"node":    func(b *Binding) { b.NodeID = "n1" },
		"kind":    func(b *Binding) { b.Kind = KindPreParams },
		"key":     func(b *Binding) { b.KeyID = "k2" },
		"version": func(b *Binding) { b.Version = 2 },
		"epoch":   func(b *Binding) { b.Epoch = 4 },
	} {
		other := b
		mut(&other)
		_, err := s.Open(ctx, other, blob)
		if !errors.Is(err, ErrBindingMismatch) {
			t.Errorf("%s changed: err = %v, want ErrBindingMismatch", name, err)
			continue
		}
		if !strings.Contains(err.Error(), other.String()) {
			t.Errorf("%s changed: error %q does not name the expected binding", name, err)
		}
	}

	for i := range blob {
		if i == 0 {
			continue // the format byte is checked before decryption
		}
		bad := bytes.Clone(blob)
		bad[i] ^= 0x01
		if _, err := s.Open(ctx, b, bad); !errors.Is(err, ErrBindingMismatch) {
			t.Fatalf("byte %d flipped: err = %v, want ErrBindingMismatch", i, err)
		}
	}
	bad := bytes.Clone(blob)
	bad[0] = 9
	if _, err := s.Open(ctx, b, bad); !errors.Is(err, ErrMalformedBlob) {
		t.Fatalf("format byte: err = %v, want ErrMalformedBlob", err)
	}
	if _, err := s.Open(ctx, b, blob[:headerSize+tagSize-1]); !errors.Is(err, ErrMalformedBlob) {
		t.Fatalf("truncated: err = %v, want ErrMalformedBlob", err)
	}
}

func TestEnvelopeRoundTripAndBindingMismatch(t *testing.T) {
	e, _ := testEnvelope(t)
	checkRoundTrip(t, e)
}

func TestEnvelopeMismatchMessage(t *testing.T) {
	e, _ := testEnvelope(t)
	ctx := context.Background()
	b := Binding{ClusterID: "c", NodeID: "n1", Kind: KindShare, KeyID: "k1", Version: 1}
	blob, err := e.Seal(ctx, b, []byte("s"))
	if err != nil {
		t.Fatal(err)
	}
	b.NodeID = "n2"
	_, err = e.Open(ctx, b, blob)
	want := "sealing: blob does not open for share key=k1 version=1 epoch=0 node=n2 cluster=c: sealing: sealed blob bound elsewhere or corrupted"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant   %s", err, want)
	}
}

func TestAssociatedDataIsUnambiguous(t *testing.T) {
	a := Binding{ClusterID: "ab", NodeID: "c", Kind: KindShare, KeyID: "k"}
	b := Binding{ClusterID: "a", NodeID: "bc", Kind: KindShare, KeyID: "k"}
	if bytes.Equal(a.associatedData(formatV1), b.associatedData(formatV1)) {
		t.Fatal("length prefixes missing: shifted field boundaries give equal AAD")
	}
	if bytes.Equal(a.associatedData(1), a.associatedData(2)) {
		t.Fatal("format version not in AAD")
	}
}

func TestBindingValidate(t *testing.T) {
	ctx := context.Background()
	e, _ := testEnvelope(t)
	for _, b := range []Binding{
		{NodeID: "n", Kind: KindShare, KeyID: "k"},
		{ClusterID: "c", Kind: KindShare, KeyID: "k"},
		{ClusterID: "c", NodeID: "n", Kind: "secret", KeyID: "k"},
		{ClusterID: "c", NodeID: "n", Kind: KindShare},
	} {
		if _, err := e.Seal(ctx, b, []byte("x")); !errors.Is(err, ErrInvalidBinding) {
			t.Errorf("Seal(%v): err = %v, want ErrInvalidBinding", b, err)
		}
	}
	pre := Binding{ClusterID: "c", NodeID: "n", Kind: KindPreParams}
	if _, err := e.Seal(ctx, pre, []byte("x")); err != nil {
		t.Errorf("pre-params without key id: %v", err)
	}
}

func TestEnvelopeWipeAndRedaction(t *testing.T) {
	e, kek := testEnvelope(t)
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		out := fmt.Sprintf(verb, e)
		if strings.Contains(out, fmt.Sprintf("%x", kek[:8])) || strings.Contains(out, "90 90 90") || !strings.Contains(out, "REDACTED") {
			t.Errorf("%s prints %q", verb, out)
		}
	}
	blob, err := e.Seal(context.Background(), testBinding(), []byte("x"))
	if err != nil {
		t.Fatal(err)
	}
	inner := e.kek
	e.Wipe()
	if !bytes.Equal(inner, make([]byte, KEKSize)) {
		t.Fatal("Wipe left key bytes")
	}
	if _, err := e.Seal(context.Background(), testBinding(), []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("Seal after Wipe: %v", err)
	}
	if _, err := e.Open(context.Background(), testBinding(), blob); !errors.Is(err, ErrClosed) {
		t.Fatalf("Open after Wipe: %v", err)
	}
	if _, err := NewEnvelope(make([]byte, 16)); err == nil {
		t.Fatal("16-byte KEK accepted")
	}
}

func TestEnvelopeConcurrentUse(t *testing.T) {
	e, _ := testEnvelope(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for i := range 8 {
		wg.Go(func() {
			b := testBinding()
			b.Version = uint32(i)
			for range 200 {
				blob, err := e.Seal(ctx, b, []byte("payload"))
				if err == nil {
					_, err = e.Open(ctx, b, blob)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
