// Package client is keyquorum's Go client: it calls a cluster's KeyService
// over mutual TLS and makes a threshold key usable as a crypto.Signer.
//
// # Connecting
//
// Dial takes the nodes' client addresses and the caller's credentials: the
// cluster CA, and a certificate and key that CA issued (`kq certs init`
// writes ca.pem, client.pem and client.key under DATA_DIR/certs). The
// caller's identity, the one audit records and handle ownership name, is
// that certificate's; no request field can claim another.
//
//	c, err := client.Dial(ctx, client.Config{
//		Endpoints: []string{"10.0.0.1:7443", "10.0.0.2:7443", "10.0.0.3:7443"},
//		CA:        caPEM, Cert: certPEM, Key: keyPEM,
//	})
//	if err != nil { ... }
//	defer c.Close()
//
// Dial waits until one endpoint completes the TLS handshake, so a wrong
// address or certificate fails at once. Any node serves any call, forwarding
// it to the raft leader; the client prefers the leader's endpoint when it
// can tell which it is, saving that hop.
//
// New makes the same Client without waiting: each endpoint connects on the
// first call that needs it. The kq CLI, which makes a call or two per run
// and must report a down cluster rather than wait for it, uses New.
//
// # Failover, deadlines and retries
//
// A call that cannot reach a node, or reaches one that has no leader to
// forward to (UNAVAILABLE), is sent again to the next endpoint, pausing
// after each round over all of them (Config.Backoff), until it is answered,
// Config.MaxAttempts is used up, or its deadline passes: the context's, or
// Config.CallTimeout when that comes first. Every other answer is the
// cluster's and is returned as it is.
//
// Sending a call twice is safe because every write carries a request id and
// the cluster remembers them: the same id with the same input returns the
// stored result (the same signature, the same key), and the same id with
// other input fails with ErrAlreadyExists. The client fills an empty
// RequestId with a fresh random one and reuses it for that call's retries.
// When a call fails with an unknown outcome (Error.OutcomeUnknown: the
// leader was lost, the deadline passed), repeat it yourself with
// Error.RequestID to learn what happened without doing it twice.
//
// # Errors
//
// A refused call returns an *Error carrying the gRPC code, the node's
// message, the endpoint and the request id. It matches its code's sentinel:
//
//	if errors.Is(err, client.ErrPermissionDenied) { ... } // handle expired, spent, revoked, wrong key
//	if errors.Is(err, client.ErrNotFound) { ... }
//
// status.Code(err) and status.FromError still read the gRPC status.
//
// # Keys and handles
//
// CreateKey runs a distributed key generation and returns the key once
// active; GetKey and ListKeys read keys with their versions and public keys;
// Verify checks a signature on the cluster, under the key's verify policy.
// Requests and responses are the wire API's messages (package kqpb; the
// proto file api/keyquorum.proto documents every field).
//
// Signing takes a handle: a bearer capability to sign with one key, for one
// purpose, until it expires or is used up. IssueHandle makes the token on
// the client and sends the cluster only its id and SHA-256, so the secret
// never crosses the network. Treat Handle.Token like a password: its String
// form hides the secret, Token.Bearer returns it. RevokeHandle ends one at
// once.
//
// # Other calls
//
// The typed methods cover keys, handles and signing. Client is also a
// grpc.ClientConnInterface whose Invoke fails over like they do, so every
// other RPC of the wire API (key lifecycle, policy, audit, operator calls)
// runs through the generated stubs with the same failover, errors and
// request ids (an empty request_id is filled on a copy and kept across
// retries):
//
//	k, err := kqpb.NewKeyServiceClient(c).RotateKey(ctx, &kqpb.KeyVersionRequest{Key: "payments", RequestId: id})
//
// Call runs a function of several calls as one unit, failing over as a
// whole. Streams (AuditService.Export) open on the preferred endpoint and
// are not failed over.
//
// # Signing as crypto.Signer
//
// A Signer binds a handle to its key and implements crypto.Signer, so a
// threshold key goes wherever Go takes a signer:
//
//	s, err := c.IssueSigner(ctx, client.HandleRequest{Key: "ca", TTL: 10 * time.Minute})
//	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, s.Public(), s)
//
// Signatures by algorithm:
//
//   - Ed25519: Public is an ed25519.PublicKey; Sign(rand, message,
//     crypto.Hash(0)) signs the message itself (1 to 1024 bytes) and
//     returns 64 bytes (RFC 8032). x509, golang.org/x/crypto/ssh and JOSE
//     EdDSA take it as it is.
//   - ECDSA secp256k1: Public is a Secp256k1PublicKey (decred's point:
//     SerializeCompressed, SerializeUncompressed, ToECDSA); Sign takes a
//     32-byte digest, hashed by the caller, and returns ASN.1 DER with a
//     low s (BIP 62, as Bitcoin requires). SignRecoverable returns the
//     65-byte r || s || v that Ethereum transactions carry. AsECDSA shows
//     the same key as *ecdsa.PublicKey for libraries that want that type.
//
// EncodeSecp256k1 turns a secp256k1 signature the cluster returned (DER)
// into the other encodings consumers want, after checking it against the
// public key: FormatRaw (r || s, JOSE's ES256K) and FormatEth (r || s || v);
// `kq sign --format der|raw|eth` prints the same.
//
// A Signer checks each signature against Public before returning it, and is
// pinned to the key version that was primary when it was made: after a
// rotation is promoted, make a new Signer.
//
// # Examples and proofs
//
// The examples run against a real three-node test cluster under go test.
// The package's tests show software nobody here wrote accepting the
// signatures: openssl verify a CA and leaf certificate chain made through
// a Signer, ssh-keygen an SSH user certificate and an SSHSIG signature,
// lestrrat-go/jwx EdDSA and ES256K JWTs (ES256K with -tags jwx_es256k),
// go-ethereum's types.Sender recovering the key's address from an EIP-1559
// transaction (api/examples/eth, its own module), and Node.js (api/examples/node: @grpc/grpc-js over mutual TLS, node:crypto
// verifying). The kq CLI is this package's first user.
//
// # Concurrency
//
// Client and Signer are safe for concurrent use. A Client holds one
// connection per endpoint; make one per process and Close it when done.
package client
