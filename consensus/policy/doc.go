// Package policy is the cluster policy as a value: the document that says
// who may do what to which tenant's keys, and the decisions taken from it.
// It parses a document (Parse: strict YAML or JSON), normalises it to its
// canonical form (Normalize), whose JSON and SHA-256 identify it
// (Canonical), validates it, and summarises a change (Diff). Decide is the
// authorization rule, a pure function of a policy and an AuthRequest; the
// quotas, the operators and the ceremony quorums (CeremonyRules, the kinds
// table CeremonyKinds) are parts of the document too.
//
// Nothing here holds state: package fsm keeps the policy in force as
// replicated state, counts what a request's quotas need and applies the
// entries that change the policy. Like fsm the package is pure, and make
// vet checks it the same way: every replica must reach the same decision
// from the same document and request.
package policy
