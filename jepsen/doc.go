// Package jepsen is keyquorum's fault-injection harness. It sees the cluster
// only as a client does: it starts real kqd processes (package cluster),
// talks to them over gRPC with the client certificate, and injects faults
// from outside. Its packages, bottom up:
//
//   - model: porcupine model of the key state machine, key versions and
//     lifecycle requests included (docs/CONSISTENCY.md)
//   - proxy: one TCP proxy per directed link, pass/blackhole/drop/delay
//   - cluster: starts, kills, pauses and partitions kqd processes
//   - client: recording gRPC client, one history on one monotonic clock,
//     one signing handle per key
//   - workload: the operation mixes (sign, lifecycle), clients signing
//     with handles of a few seconds, retries that reuse request ids, final
//     reads
//   - nemesis: failpoints (partition, clock, kill, pause) on a seeded
//     schedule, each fault recorded with the nodes it stopped and the
//     links it cut
//   - checker: assumptions, linearizability, signatures, nonce reuse,
//     durability, handle expiry against real time, convergence, audit
//     chain agreement
//   - availability: how long signing stopped while a quorum was up, how
//     long it took to come back after each healed fault, how many signs
//     failed; an optional bound on recovery, a verdict apart from safety
//   - report: results.json, history.html, node logs, the summary
//   - harness: one run end to end; cmd/kqjepsen and scenarios call it
//   - scenarios: the runs `make test` executes
//   - bench: latency measurements (separate from the checks)
package jepsen
