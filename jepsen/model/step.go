package model

// step is the sequential specification: whether the operation (in, out)
// may run in state s, and the state after it. Each guarantee it enforces is
// one sentence of docs/CONSISTENCY.md, quoted at the check.
func step(s State, in Input, out Output) (bool, State) {
	if out.Status == Unreached {
		return true, s
	}
	switch in.Kind {
	case Create:
		return stepCreate(s, in, out)
	case Activate:
		return stepActivate(s, in, out)
	case Get:
		return stepRead(s, in.Key, out.Status, out.Key)
	case List:
		return stepList(s, in, out)
	case IssueHandle:
		return stepIssueHandle(s, in, out)
	case Sign:
		return stepSign(s, in, out)
	case Rotate:
		return stepRotate(s, in, out)
	case Generated:
		return stepGenerated(s, in, out)
	case Promote, Rollback, Retire, Revoke:
		return stepChange(s, in, out)
	}
	return false, s
}

func stepCreate(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	switch out.Status {
	case Unknown:
		if !exists {
			s = s.withKey(in.Key, newKey(in.RequestID))
		}
		return true, s
	case OK:
		// "Creating a key under a taken name fails, unless the request id is
		// the one that created it, which returns the stored key."
		if !exists {
			k = newKey(in.RequestID)
		} else if k.CreateID != in.RequestID {
			return false, s
		}
		s = s.withKey(in.Key, k)
		if len(out.Key.VersionList()) == 0 {
			// The first half of a create split by Split: the key
			// exists from here on, in whatever state it reached.
			return true, s
		}
		return activate(s, in.Key, out.Key)
	case AlreadyExists:
		return exists && k.CreateID != in.RequestID, s
	case FailedPrecondition, Invalid:
		// Refused before anything was recorded (e.g. pre-params not ready).
		return true, s
	}
	return false, s
}

// stepActivate is the second half of an acknowledged create: the key it
// made has finished its key generation, as the create returned it.
func stepActivate(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	if !exists || k.CreateID != in.RequestID {
		return false, s
	}
	return activate(s, in.Key, out.Key)
}

// activate checks what an acknowledged create returned: "CreateKey
// returns once the key is active", so its first version has left key
// generation, and did not fail.
func activate(s State, name string, view KeyView) (bool, State) {
	k, ok := observe(s.Keys[name], view)
	if !ok {
		return false, s
	}
	if v := k.Versions[0]; v.State == Generating || v.State == Failed {
		return false, s
	}
	return true, s.withKey(name, k)
}

// stepRead checks one key as a read saw it: found with a view, or not found.
func stepRead(s State, name string, st Status, v KeyView) (bool, State) {
	k, exists := s.Keys[name]
	switch st {
	case Unknown, Invalid:
		return true, s
	case NotFound:
		// "A key whose creation was acknowledged is visible to every
		// operation that starts after the acknowledgement."
		return !exists, s
	case OK:
		if !exists {
			return false, s
		}
		// "A version's state changes only by its key generation [...] or
		// by a lifecycle request, and its public key never changes."
		k, ok := observe(k, v)
		if !ok {
			return false, s
		}
		return true, s.withKey(name, k)
	}
	return false, s
}

// stepList checks a List projected onto one key (see Partition). A whole,
// unprojected List checks every key the state knows and every key listed.
func stepList(s State, in Input, out Output) (bool, State) {
	if out.Status != OK {
		return out.Status == Unknown, s
	}
	if in.Key != "" {
		if !out.Found {
			return stepRead(s, in.Key, NotFound, KeyView{})
		}
		return stepRead(s, in.Key, OK, out.Key)
	}
	for name := range s.Keys {
		if _, listed := out.Lookup(name); !listed {
			return false, s
		}
	}
	for _, v := range out.Keys {
		var ok bool
		if ok, s = stepRead(s, v.Name, OK, v); !ok {
			return false, s
		}
	}
	return true, s
}

// stepIssueHandle: an issued handle shows that its key exists; the model
// does not follow handles further (they never run out, and their expiry
// is judged against real time by the expiry checker).
// Clients make their own tokens and send a request id again only with its
// token, so a retry must get the handle back: ALREADY_EXISTS is never
// right.
func stepIssueHandle(s State, in Input, out Output) (bool, State) {
	_, exists := s.Keys[in.Key]
	switch out.Status {
	case OK:
		return exists, s
	case NotFound:
		return !exists, s
	case AlreadyExists:
		return false, s
	}
	return true, s
}

func stepSign(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	r, known := s.Requests[in.RequestID]
	same := known && r.Key == in.Key && r.Digest == in.Digest
	signed := known && r.Signature != ""
	switch out.Status {
	case Unknown:
		if exists && (!known || (same && !signed)) {
			if !known {
				r = Request{Key: in.Key, Digest: in.Digest}
			}
			r.Candidates |= versionBit(wouldSign(k, in.Version))
			s = s.withRequest(in.RequestID, r)
		}
		return true, s
	case OK:
		if !exists {
			return false, s
		}
		// "A request id reused with another input is refused."
		if known && !same {
			return false, s
		}
		// "Every answer to one request id carries the same signature."
		if signed {
			return r.Signature == out.Signature && r.Version == out.Version, s
		}
		if known && r.candidate(out.Version) {
			// An earlier attempt signed, where it was placed; this answer
			// only reports it. (Its version's key generation had ended.)
			k = k.generated(out.Version)
		} else {
			var ok bool
			if k, ok = signs(k, in.Version, out.Version); !ok {
				return false, s
			}
		}
		s = s.withKey(in.Key, k)
		return true, s.withRequest(in.RequestID, Request{Key: in.Key, Digest: in.Digest, Signature: out.Signature, Version: out.Version})
	case NotFound:
		_, hasVersion := k.version(in.Version)
		return !exists || (!signed && in.Version != 0 && !hasVersion), s
	case FailedPrecondition:
		return exists && !signed && !signableAsIs(k, in.Version), s
	case AlreadyExists:
		return known && !same, s
	case Invalid:
		return true, s
	case Denied:
		// The harness's handles grant every sign it asks of them (their
		// key, purpose sign, no use limit, never revoked): the one refusal
		// left is expiry, which only a handle of a short life may meet.
		// When it may is for the expiry checker, which knows real time.
		return MayExpire(in.HandleTTL), s
	}
	return false, s
}

// signs checks a new signature by version got, asked for version req (0:
// the primary), and returns the key with what the signature proves.
// "Sign signs with the primary version, or with the version asked for,
// and only with one that is active or staged at the moment the request is
// ordered; the answer names the version that signed."
func signs(k Key, req, got uint32) (Key, bool) {
	switch {
	case got == 0 || (req != 0 && got != req):
		return k, false
	case req == 0 && k.Primary == 0 && got == 1:
		k = k.generated(1) // only a finished first version signs
	}
	if req == 0 && got != k.Primary {
		return k, false
	}
	k = k.generated(got)
	v, ok := k.version(got)
	return k, ok && (v.State == Active || v.State == Staged)
}

// wouldSign returns the version that would sign a request for version req
// (0: the primary) here, if its key generation has ended, or 0 if none
// would.
func wouldSign(k Key, req uint32) uint32 {
	if req == 0 {
		req = k.Primary
		if req == 0 && k.Versions[0].State == Generating {
			req = 1
		}
	}
	v, ok := k.version(req)
	if !ok || (v.State != Active && v.State != Staged && v.State != Generating) {
		return 0
	}
	return req
}

// signableAsIs reports whether version req (0: the primary) can sign in
// the state as operations have shown it, a version still generating
// counting as not yet able to.
func signableAsIs(k Key, req uint32) bool {
	if req == 0 {
		req = k.Primary
	}
	v, ok := k.version(req)
	return ok && (v.State == Active || v.State == Staged)
}

// stepRotate is a rotation, or the first half of an acknowledged one split
// by Split: a new version appears, generating.
func stepRotate(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	c, known := s.Changes[in.RequestID]
	same := known && c.sameInput(in)
	switch out.Status {
	case Unknown:
		if exists && !known && in.Version == 0 {
			s = rotated(s, in, k)
		}
		return true, s
	case OK:
		if !exists || (known && !same) || (!known && in.Version != 0) {
			return false, s
		}
		// "A lifecycle request retried with its request id and the same
		// input changes nothing more."
		if !known {
			s = rotated(s, in, k)
		}
		if len(out.Key.VersionList()) == 0 {
			return true, s
		}
		return generated(s, in, out.Key)
	case AlreadyExists:
		// "A request id reused with another input is refused."
		return known && !same, s
	case NotFound:
		return !exists, s
	case FailedPrecondition:
		// Refused while the newest version is still generating, or an
		// ECDSA key's members lack pre-parameters.
		return exists && !known, s
	case Invalid, Denied:
		return !same, s
	}
	return false, s
}

func rotated(s State, in Input, k Key) State {
	k = k.appended()
	n := uint32(len(k.Versions))
	s = s.withKey(in.Key, k)
	return s.withChange(in.RequestID, Change{Kind: Rotate, Key: in.Key, Version: n})
}

// stepGenerated is the second half of an acknowledged rotation: "RotateKey
// adds the key's next version and returns once its key generation
// succeeded".
func stepGenerated(s State, in Input, out Output) (bool, State) {
	c, known := s.Changes[in.RequestID]
	if !known || c.Kind != Rotate || c.Key != in.Key {
		return false, s
	}
	return generated(s, in, out.Key)
}

func generated(s State, in Input, view KeyView) (bool, State) {
	c := s.Changes[in.RequestID]
	k, ok := observe(s.Keys[in.Key], view)
	if !ok {
		return false, s
	}
	if v, _ := k.version(c.Version); v.State == Generating || v.State == Failed {
		return false, s
	}
	return true, s.withKey(in.Key, k)
}

// stepChange is a promotion, rollback, retirement or revocation. Its
// answer shows the key right after it, or, for a retried request id, the
// key as it is now.
func stepChange(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	c, known := s.Changes[in.RequestID]
	same := known && c.sameInput(in)
	switch out.Status {
	case Unknown:
		// Taken as having happened when it could have; where it could not,
		// the checker can place it after everything else.
		if exists && !known {
			if after, n, ok := change(k, in, 0, true); ok {
				s = s.withKey(in.Key, after).withChange(in.RequestID, Change{Kind: in.Kind, Key: in.Key, Requested: in.Version, Version: n})
			}
		}
		return true, s
	case OK:
		if !exists || (known && !same) {
			return false, s
		}
		if !known {
			after, n, ok := change(k, in, out.Key.PrimaryVersion(), true)
			if !ok {
				return false, s
			}
			k = after
			s = s.withChange(in.RequestID, Change{Kind: in.Kind, Key: in.Key, Requested: in.Version, Version: n})
		}
		k, ok := observe(k, out.Key)
		if !ok {
			return false, s
		}
		return true, s.withKey(in.Key, k)
	case AlreadyExists:
		return known && !same, s
	case NotFound, FailedPrecondition:
		// "A lifecycle request is refused only when the key's versions do
		// not allow it."
		if !exists {
			return out.Status == NotFound, s
		}
		_, _, possible := change(k, in, 0, false)
		return !known && !possible, s
	case Invalid, Denied:
		return !same, s
	}
	return false, s
}

func (c Change) sameInput(in Input) bool {
	return c.Kind == in.Kind && c.Key == in.Key && c.Requested == in.Version
}

// change applies a promotion, rollback, retirement or revocation to k and
// returns the key after it and the version it changed; ok is false when
// the versions do not allow it. primary, when not 0, is the primary the
// answer showed, which resolves a promotion's or rollback's default
// target. With generate set, a version the model still has generating may
// have finished: a change that needs it finished proves it did. Without,
// only what operations have shown counts (is a refusal justified?).
func change(k Key, in Input, primary uint32, generate bool) (Key, uint32, bool) {
	n := in.Version
	if n == 0 {
		n = defaultTarget(k, in.Kind, primary, generate)
	}
	v, ok := k.version(n)
	if !ok {
		return k, 0, false
	}
	if v.State == Generating && generate {
		k = k.generated(n)
		v, _ = k.version(n)
	}
	switch in.Kind {
	case Promote:
		// "PromoteKey makes a staged or active version the primary."
		if n == k.Primary || (v.State != Staged && v.State != Active) {
			return k, 0, false
		}
		v.State, k.Primary = Active, n
	case Rollback:
		// "RollbackKey makes an active version below the primary the
		// primary again."
		if n >= k.Primary || v.State != Active {
			return k, 0, false
		}
		k.Primary = n
	case Retire:
		// "RetireKeyVersion makes a staged or active version verify-only."
		if v.State != Staged && v.State != Active {
			return k, 0, false
		}
		v.State = Retired
	case Revoke:
		// "RevokeKeyVersion stops a staged, active or retired version for
		// good: no Sign ordered after it returns a new signature by it."
		if v.State != Staged && v.State != Active && v.State != Retired {
			return k, 0, false
		}
		v.State = Revoked
	default:
		return k, 0, false
	}
	return k.with(n, v), n, true
}

// defaultTarget is the version a change that names none acts on: the
// newest staged version for a promotion, the newest active one below the
// primary for a rollback, the primary for the others. A promotion or
// rollback that answered names its target as the new primary.
func defaultTarget(k Key, kind Kind, primary uint32, generate bool) uint32 {
	switch kind {
	case Promote:
		return newestOrAnswered(k, uint32(len(k.Versions)), primary, isStaged(generate))
	case Rollback:
		if k.Primary == 0 {
			return 0
		}
		return newestOrAnswered(k, k.Primary-1, primary, isActive(generate))
	}
	if k.Primary == 0 && generate && k.Versions[0].State == Generating {
		return 1 // the first version may be active, and primary, already
	}
	return k.Primary
}

// newestOrAnswered returns the newest version up to below that match
// accepts, or the answered primary when it is such a version and no newer
// one is known (as operations showed them) to match.
func newestOrAnswered(k Key, below, answered uint32, match func(uint32, Version) bool) uint32 {
	shown := func(n uint32, v Version) bool { return v.State != Generating && match(n, v) }
	if v, ok := k.version(answered); ok && answered <= below && match(answered, v) && k.newest(below, shown) <= answered {
		return answered
	}
	return k.newest(below, match)
}

// isStaged matches staged versions and, with generate, rotations' versions
// still generating in the model (they may be staged already).
func isStaged(generate bool) func(uint32, Version) bool {
	return func(n uint32, v Version) bool {
		return v.State == Staged || (generate && n > 1 && v.State == Generating)
	}
}

// isActive matches active versions and, with generate, a first version
// still generating in the model (it may be active already).
func isActive(generate bool) func(uint32, Version) bool {
	return func(n uint32, v Version) bool {
		return v.State == Active || (generate && n == 1 && v.State == Generating)
	}
}
