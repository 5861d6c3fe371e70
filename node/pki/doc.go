// Package pki is keyquorum's development certificate authority. It issues the
// certificates for mutual TLS between nodes and from clients, builds the
// matching tls.Configs, and reads a peer's identity from its certificate.
//
// Identities are SPIFFE-style URI SANs: spiffe://<cluster id>/node/<id> for
// nodes and spiffe://<cluster id>/client/<name> for clients. The CA carries
// spiffe://<cluster id> itself and a URI name constraint to that trust
// domain, so a certificate it signs cannot claim another cluster.
//
// The CA key sits in its own directory, DATA_DIR/ca (CADir), which kqd never
// reads: kqd needs only certs/ca.pem. That is good for development and
// tests, not for production, where the CA key belongs offline or the
// certificates come from another CA that issues the same URI SANs. Private
// keys are written 0600 and never logged.
package pki
