// Package jepsen is keyquorum's fault-injection harness. It sees the cluster
// only as a client does: it starts real kqd processes (package cluster),
// talks to them over gRPC with the client certificate, and injects faults
// from outside.
package jepsen
