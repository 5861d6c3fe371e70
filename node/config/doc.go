// Package config reads and validates cluster.yaml, the one file that
// describes a keyquorum cluster: its identity, where nodes keep their data,
// the TPM backend, how pre-params are obtained, signing limits, and every
// node's addresses.
//
// Every problem found is reported with the file, the line and the field path
// (for example "cluster.yaml:14: nodes[1].raft: address \"127.0.0.1\" lacks a
// port"), and unknown fields are errors, so a typo never silently falls back
// to a default. The file holds no secrets.
package config
