package tss_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
	"github.com/keyquorum/keyquorum/tss/tsstest"
)

func TestShareRoundTripSignsAgain(t *testing.T) {
	for _, alg := range []tss.Algorithm{tss.Ed25519, tss.ECDSASecp256k1} {
		t.Run(alg.String(), func(t *testing.T) {
			f := sharedKey(t, alg)
			restored := map[string]*tss.Share{}
			for id, sh := range f.shares {
				b, err := sh.MarshalBinary()
				if err != nil {
					t.Fatal(err)
				}
				r, err := tss.UnmarshalShare(b)
				if err != nil {
					t.Fatalf("unmarshal %s: %v", id, err)
				}
				if r.Algorithm() != alg || r.Threshold() != 1 || r.Self() != id ||
					!bytes.Equal(r.PublicKey(), sh.PublicKey()) || strings.Join(r.Parties(), ",") != strings.Join(members, ",") {
					t.Fatalf("restored share differs: %v vs %v", r, sh)
				}
				restored[id] = r
			}
			msg := randomBytes(t, 32)
			g := &fixture{net: f.net, engines: f.engines, shares: restored}
			sig := mustSign(t, g, newSID(t), committees[2], msg)
			if !tss.Verify(alg, restored["node-b"].PublicKey(), msg, sig) {
				t.Fatal("signature from restored shares does not verify")
			}
		})
	}
}

func TestUnmarshalShareRejectsTampering(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	b, err := f.shares["node-a"].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	cases := map[string]func(string) string{
		"wrong curve name": func(s string) string { return strings.ReplaceAll(s, `"ed25519"`, `"secp256k1"`) },
		"wrong owner":      func(s string) string { return strings.Replace(s, `"self":"node-a"`, `"self":"node-b"`, 1) },
		"unknown owner":    func(s string) string { return strings.Replace(s, `"self":"node-a"`, `"self":"node-z"`, 1) },
		"threshold":        func(s string) string { return strings.Replace(s, `"threshold":1`, `"threshold":3`, 1) },
		"version":          func(s string) string { return strings.Replace(s, `"version":2`, `"version":3`, 1) },
		"truncated":        func(s string) string { return s[:len(s)/2] },
		"dropped party":    func(s string) string { return strings.Replace(s, `{"id":"node-c"`, `{"id":"node-x"`, 1) },
	}
	for name, mutate := range cases {
		m := mutate(string(b))
		if m == string(b) {
			t.Fatalf("%s: mutation did not apply", name)
		}
		if _, err := tss.UnmarshalShare([]byte(m)); !errors.Is(err, tss.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
}

func TestSecretsRedacted(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	sh := f.shares["node-a"]
	raw, err := sh.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	// The decimal secret share appears in the JSON as "Xi":<digits>.
	i := bytes.Index(raw, []byte(`"Xi":`))
	if i < 0 {
		t.Fatal("no Xi in encoding")
	}
	xi := string(raw[i+5 : i+5+bytes.IndexAny(raw[i+5:], ",}")])
	pp := loadPreParams(t, 1)
	ppRaw, err := pp.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	j := bytes.Index(ppRaw, []byte(`"P":`))
	p := string(ppRaw[j+4 : j+4+bytes.IndexAny(ppRaw[j+4:], ",}")])
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%d"} {
		for name, v := range map[string]any{"share": sh, "preparams": pp} {
			out := fmt.Sprintf(verb, v)
			if len(xi) < 20 || len(p) < 20 {
				t.Fatal("secret not found in encoding")
			}
			if strings.Contains(out, xi) || strings.Contains(out, p) || strings.Contains(out, "Xi") {
				t.Fatalf("%s printed with %s leaks a secret: %q", name, verb, out)
			}
		}
	}
	if !strings.Contains(sh.String(), "node-a") {
		t.Fatalf("share String lacks public facts: %s", sh)
	}
}

func TestShareWipe(t *testing.T) {
	f := sharedKey(t, tss.Ed25519)
	b, _ := f.shares["node-c"].MarshalBinary()
	sh, err := tss.UnmarshalShare(b)
	if err != nil {
		t.Fatal(err)
	}
	sh.Wipe()
	if _, err := sh.MarshalBinary(); err == nil {
		t.Fatal("wiped share still marshals")
	}
	if _, err := f.engines["node-c"].Sign(t.Context(), tss.SignRequest{Session: newSID(t), Share: sh,
		Committee: committees[2], Message: []byte("x")}); !errors.Is(err, tss.ErrInvalidRequest) {
		t.Fatalf("sign with wiped share: %v", err)
	}
}

func TestPublicKeyPEMRoundTrip(t *testing.T) {
	for _, alg := range []tss.Algorithm{tss.Ed25519, tss.ECDSASecp256k1} {
		t.Run(alg.String(), func(t *testing.T) {
			pub := sharedKey(t, alg).shares["node-a"].PublicKey()
			p, err := tss.PublicKeyPEM(alg, pub)
			if err != nil {
				t.Fatal(err)
			}
			gotAlg, gotPub, err := tss.ParsePublicKeyPEM(p)
			if err != nil || gotAlg != alg || !bytes.Equal(gotPub, pub) {
				t.Fatalf("round trip: %v %v %x", err, gotAlg, gotPub)
			}
			if _, _, err := tss.ParsePublicKeyPEM(p + p); err == nil {
				t.Fatal("accepted trailing data")
			}
			openssl, err := exec.LookPath("openssl")
			if err != nil {
				t.Log("openssl not installed; PEM checked by round trip only")
				return
			}
			cmd := exec.Command(openssl, "pkey", "-pubin", "-noout", "-text")
			cmd.Stdin = strings.NewReader(p)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("openssl rejects the PEM: %v\n%s", err, out)
			}
			want := map[tss.Algorithm]string{tss.ECDSASecp256k1: "secp256k1", tss.Ed25519: "ED25519"}[alg]
			if !strings.Contains(string(out), want) {
				t.Fatalf("openssl output lacks %q:\n%s", want, out)
			}
		})
	}
}

// TestSharesOwnTheirPreParams wipes ECDSA shares made with a node's
// pre-params and checks that the pre-params are untouched: they are reused
// for the node's next key generation or refresh, and tss-lib copies them by
// value, pointers and all.
func TestSharesOwnTheirPreParams(t *testing.T) {
	net, engines, err := tsstest.NewCluster(testConfig(), members...)
	if err != nil {
		t.Fatal(err)
	}
	defer net.Close()
	pre := map[string]*tss.PreParams{}
	before := map[string][]byte{}
	for i, id := range members {
		pre[id] = loadPreParams(t, i+1)
		if before[id], err = pre[id].MarshalBinary(); err != nil {
			t.Fatal(err)
		}
	}
	sid := tss.NewSessionID("test", "keygen", 1, "own-preparams", 0)
	shares, errs := onEach(members, func(id string) (*tss.Share, error) {
		return engines[id].Keygen(context.Background(), tss.KeygenRequest{Session: sid, Algorithm: tss.ECDSASecp256k1,
			Threshold: 1, Parties: members, PreParams: pre[id]})
	})
	for _, id := range members {
		if errs[id] != nil {
			t.Fatalf("%s: %v", id, errs[id])
		}
		shares[id].Wipe()
	}
	for _, id := range members {
		after, err := pre[id].MarshalBinary()
		if err != nil || !bytes.Equal(after, before[id]) || pre[id].Validate() != nil {
			t.Fatalf("%s: wiping a share changed the pre-params it was made with (err %v)", id, err)
		}
	}
}
