package client_test

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"log"
	"math/big"
	"os"
	"path/filepath"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/client"
	"github.com/keyquorum/keyquorum/api/kqpb"
)

// Dial with the certificates `kq certs init` writes. The examples below that
// need a running cluster compile but do not run under go test.
func Example() {
	dir := "data/certs"
	read := func(name string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			log.Fatal(err)
		}
		return b
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, client.Config{
		Endpoints: []string{"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"},
		CA:        read("ca.pem"),
		Cert:      read("client.pem"),
		Key:       read("client.key"),
	})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()

	k, err := c.CreateKey(ctx, &kqpb.CreateKeyRequest{Name: "demo", Algorithm: kqpb.Algorithm_ED25519})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(k.GetName(), k.GetState())
}

// A threshold Ed25519 key self-signs a CA certificate: the Signer goes
// where x509 takes a crypto.Signer.
func ExampleClient_IssueSigner() {
	var c *client.Client // from Dial
	ctx := context.Background()
	s, err := c.IssueSigner(ctx, client.HandleRequest{Key: "demo", Purpose: "sign", TTL: 10 * time.Minute})
	if err != nil {
		log.Fatal(err)
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
		log.Fatal(err)
	}
	fmt.Println(len(der) > 0)
}

// An Ethereum-style signature: r || s || v over a 32-byte hash.
func ExampleSigner_SignRecoverable() {
	var c *client.Client // from Dial
	ctx := context.Background()
	s, err := c.IssueSigner(ctx, client.HandleRequest{Key: "btc", TTL: time.Minute, MaxUses: 1})
	if err != nil {
		log.Fatal(err)
	}
	digest := sha256.Sum256([]byte("a transaction's signing hash"))
	sig, err := s.SignRecoverable(digest[:])
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("r=%x s=%x v=%d\n", sig[:32], sig[32:64], sig[64])
}

// A retry after an unknown outcome reuses the request id, so the cluster
// returns the stored signature rather than signing twice.
func ExampleClient_Sign() {
	var c *client.Client // from Dial
	var h *client.Handle // from IssueHandle
	ctx := context.Background()
	req := &kqpb.SignRequest{Handle: h.Token.Bearer(), Digest: []byte("message")}
	r, err := c.Sign(ctx, req)
	var e *client.Error
	if errors.As(err, &e) && e.OutcomeUnknown() {
		req.RequestId = e.RequestID
		r, err = c.Sign(ctx, req)
	}
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%x\n", r.GetSignature())
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
