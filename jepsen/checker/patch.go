package checker

import (
	"math"

	"github.com/anishathalye/porcupine"

	"github.com/keyquorum/keyquorum/jepsen/model"
)

// Prepare returns the history porcupine checks, patched as etcd's
// robustness validation does, so that unknown outcomes do not make the
// search explode:
//
//   - reads and handle issues with an unknown outcome are dropped: they
//     constrain nothing;
//   - an unknown Sign whose request id no other operation got a signature
//     or a refusal as a reused id for is dropped: its only effect is a
//     record nobody looks at;
//   - an unknown Sign whose request id and digest a later operation got a
//     signature for must have taken effect, if at all, before that
//     operation returned: its return becomes that time;
//   - likewise an unknown lifecycle change whose request id a later
//     operation with the same input got an answer for;
//   - the first unknown Create of a name that a later operation saw must
//     likewise have taken effect before that operation returned;
//   - acknowledged creates and rotations are split into their two state
//     changes (model.Split).
//
// Each patch only narrows where the checker may place an operation to
// places a correct cluster must have used, so a history that fails after
// patching would also fail before it.
func Prepare(history []porcupine.Operation) []porcupine.Operation {
	out := make([]porcupine.Operation, 0, len(history))
	firstCreate := map[string]int64{}
	for _, op := range history {
		if in := op.Input.(model.Input); in.Kind == model.Create {
			if t, ok := firstCreate[in.Key]; !ok || op.Call < t {
				firstCreate[in.Key] = op.Call
			}
		}
	}
	for i, op := range history {
		in, res := op.Input.(model.Input), op.Output.(model.Output)
		if res.Status != model.Unknown {
			out = append(out, op)
			continue
		}
		switch {
		case in.Kind == model.Get || in.Kind == model.List || in.Kind == model.IssueHandle:
			continue
		case in.Kind == model.Sign:
			seen, by := signSeen(history, i)
			if !seen {
				continue
			}
			op.Return = by
		case in.Kind.IsChange():
			op.Return = changeSeen(history, i)
		case in.Kind == model.Create:
			if firstCreate[in.Key] == op.Call {
				op.Return = keySeen(history, op)
			}
		}
		out = append(out, op)
	}
	return model.Split(out)
}

// signSeen reports whether another operation with the request id of
// history[ui] (u) got a signature or was refused as a reused id, and the
// earliest return of a later operation that got a signature for u's
// request id and digest (math.MaxInt64 if none did).
func signSeen(history []porcupine.Operation, ui int) (bool, int64) {
	u := history[ui]
	uin := u.Input.(model.Input)
	seen, by := false, int64(math.MaxInt64)
	for i, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if in.Kind != model.Sign || in.RequestID != uin.RequestID || i == ui {
			continue
		}
		seen = seen || out.Status == model.OK || out.Status == model.AlreadyExists
		if out.Status == model.OK && in.Digest == uin.Digest && op.Call > u.Call {
			by = min(by, op.Return)
		}
	}
	return seen, by
}

// changeSeen is the earliest return of an operation called after the
// lifecycle change history[ui] that was acknowledged for its request id
// and input (math.MaxInt64 if none was): by then the change had taken
// effect, under one of the two calls.
func changeSeen(history []porcupine.Operation, ui int) int64 {
	u := history[ui]
	uin := u.Input.(model.Input)
	by := int64(math.MaxInt64)
	for _, op := range history {
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		if op.Call > u.Call && out.Status == model.OK && in.Kind == uin.Kind && in.RequestID == uin.RequestID &&
			in.Key == uin.Key && in.Version == uin.Version {
			by = min(by, op.Return)
		}
	}
	return by
}

// keySeen is the earliest return of an operation called after u that saw
// u's key exist (math.MaxInt64 if none did).
func keySeen(history []porcupine.Operation, u porcupine.Operation) int64 {
	name := u.Input.(model.Input).Key
	by := int64(math.MaxInt64)
	for _, op := range history {
		if op.Call <= u.Call || op.Return == math.MaxInt64 {
			continue
		}
		in, out := op.Input.(model.Input), op.Output.(model.Output)
		exists := false
		switch in.Kind {
		case model.List:
			_, exists = out.Lookup(name)
			exists = exists && out.Status == model.OK
		case model.Get, model.IssueHandle:
			exists = in.Key == name && out.Status == model.OK
		case model.Create:
			exists = in.Key == name && (out.Status == model.OK || out.Status == model.AlreadyExists)
		default:
			// Signatures and lifecycle changes: an answer or a refusal by
			// the key's state.
			exists = in.Key == name && (out.Status == model.OK || out.Status == model.FailedPrecondition)
		}
		if exists {
			by = min(by, op.Return)
		}
	}
	return by
}
