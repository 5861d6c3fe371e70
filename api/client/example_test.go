package client_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	secpecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// The examples run against the test cluster (three real kqd processes, see
// cluster_test.go); exampleConfig is where a service would put its nodes'
// client addresses and the PEM files `kq certs issue` wrote. On an error
// an example prints it and returns, which fails it against its Output
// while TestMain still stops the cluster.
func exampleConfig() (client.Config, error) {
	shared.once.Do(func() { shared.failure = startShared() })
	return shared.cfg, shared.failure
}

// exampleClient dials the test cluster, as Example shows.
func exampleClient() (*client.Client, error) {
	cfg, err := exampleConfig()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a loaded machine
	defer cancel()
	return client.Dial(ctx, cfg)
}

// Dial, then create a key by distributed key generation.
func Example() {
	cfg, err := exampleConfig()
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		Endpoints: cfg.Endpoints, // e.g. "10.0.0.1:7301", one per node
		CA:        cfg.CA,        // ca.pem
		Cert:      cfg.Cert,      // the caller's certificate, PEM
		Key:       cfg.Key,       // its private key, PEM
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()

	k, err := c.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "example-demo", Algorithm: kqpb.Algorithm_ED25519})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(k.GetName(), k.GetState(), len(k.GetPublicKey()), "byte public key")
	// Output: example-demo KEY_STATE_ACTIVE 32 byte public key
}

// A threshold Ed25519 key self-signs a CA certificate: the Signer goes
// where x509 takes a crypto.Signer.
func ExampleClient_IssueSigner() {
	c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	s, err := c.IssueSigner(ctx, client.HandleRequest{Key: "ed", Purpose: "sign", TTL: 10 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "threshold CA"},
		NotBefore:             time.Now(),
		NotAfter:              time.Now().AddDate(1, 0, 0),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
	if err != nil {
		fmt.Println(err)
		return
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(cert.Subject.CommonName, cert.PublicKeyAlgorithm, cert.CheckSignatureFrom(cert) == nil)
	// Output: threshold CA Ed25519 true
}

// An Ethereum-style signature: r || s || v over a 32-byte hash; v recovers
// the key's public key, hence its address.
func ExampleSigner_SignRecoverable() {
	c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	s, err := c.IssueSigner(context.Background(), client.HandleRequest{Key: "ec", TTL: time.Minute, MaxUses: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	digest := sha256.Sum256([]byte("a transaction's signing hash"))
	sig, err := s.SignRecoverable(digest[:])
	if err != nil {
		fmt.Println(err)
		return
	}
	compact := append([]byte{27 + 4 + sig[64]}, sig[:64]...) // decred's form of (v, r, s)
	pub, _, err := secpecdsa.RecoverCompact(compact, digest[:])
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(sig), sig[64] <= 1, pub.IsEqual(s.Public().(client.Secp256k1PublicKey).PublicKey))
	// Output: 65 true true
}

// A retry after an unknown outcome reuses the request id, so the cluster
// returns the stored signature rather than signing twice.
func ExampleClient_Sign() {
	c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	ctx := context.Background()
	h, err := c.IssueHandle(ctx, client.HandleRequest{Key: "ed", TTL: time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	req := &kqpb.SignRequest{Handle: h.Token.Bearer(), Digest: []byte("message")}
	r, err := c.Sign(ctx, req)
	var e *client.Error
	if errors.As(err, &e) && e.OutcomeUnknown() {
		req.RequestId = e.RequestID
		r, err = c.Sign(ctx, req)
	}
	if err != nil {
		fmt.Println(err)
		return
	}
	k, err := c.GetKey(ctx, "ed")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(ed25519.Verify(k.GetPublicKey(), []byte("message"), r.GetSignature()))
	// Output: true
}

// The typed methods cover keys, handles and signing; every other RPC runs
// through the generated stubs over the Client, with the same failover.
func ExampleClient_Invoke() {
	c, err := exampleClient()
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	st, err := kqpb.NewOperatorServiceClient(c).Status(context.Background(), &kqpb.StatusRequest{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(len(st.GetMembers()), "members, leader known:", st.GetLeaderId() != "")
	// Output: 3 members, leader known: true
}

// New does not connect: a call to a cluster that is down fails with
// ErrUnavailable after trying every endpoint.
func ExampleNew() {
	cfg, err := exampleConfig()
	if err != nil {
		fmt.Println(err)
		return
	}
	c, err := client.New(client.Config{Endpoints: []string{"127.0.0.1:1"}, CA: cfg.CA, Cert: cfg.Cert, Key: cfg.Key,
		ConnectTimeout: time.Second, MaxAttempts: 1})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer c.Close()
	_, err = c.ListKeys(context.Background())
	fmt.Println(errors.Is(err, client.ErrUnavailable))
	// Output: true
}

// Errors match their code's sentinel and still carry the gRPC status.
func ExampleError() {
	var err error = &client.Error{Op: "Sign", Code: codes.PermissionDenied, Message: "handle expired"}
	fmt.Println(errors.Is(err, client.ErrPermissionDenied), errors.Is(err, client.ErrNotFound))
	fmt.Println(status.Code(err))
	fmt.Println(err)
	// Output:
	// true false
	// PermissionDenied
	// keyquorum: Sign: PermissionDenied: handle expired
}

// The encodings of one secp256k1 signature, as `kq sign --format` prints
// them: the cluster's DER, r || s, and r || s || v.
func ExampleEncodeSecp256k1() {
	priv := secp256k1.PrivKeyFromBytes([]byte("an example key, never a real one"))
	digest := sha256.Sum256([]byte("message"))
	der := secpecdsa.Sign(priv, digest[:]).Serialize() // what Sign returns
	for _, f := range []client.Secp256k1Format{client.FormatDER, client.FormatRaw, client.FormatEth} {
		sig, err := client.EncodeSecp256k1(priv.PubKey(), digest[:], der, f)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(f, len(sig) >= 64)
	}
	// Output:
	// der true
	// raw true
	// eth true
}
