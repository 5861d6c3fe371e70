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
	case Get:
		return stepRead(s, in.Key, out.Status, out.Key)
	case List:
		return stepList(s, in, out)
	case Sign:
		return stepSign(s, in, out)
	case Activate:
		return stepActivate(s, in, out)
	}
	return false, s
}

func stepCreate(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	switch out.Status {
	case Unknown:
		if !exists {
			s = s.withKey(in.Key, Key{CreateID: in.RequestID, State: Generating})
		}
		return true, s
	case OK:
		// "Creating a key under a taken name fails, unless the request id is
		// the one that created it, which returns the stored key."
		if !exists {
			k = Key{CreateID: in.RequestID, State: Generating}
		} else if k.CreateID != in.RequestID {
			return false, s
		}
		if out.Key.State == "" {
			// The first half of a create split by SplitCreates: the key
			// exists from here on, in whatever state it reached.
			return true, s.withKey(in.Key, k)
		}
		// "CreateKey returns once the key is active."
		if out.Key.State != Active {
			return false, s
		}
		k, ok := observe(k, out.Key)
		if !ok {
			return false, s
		}
		return true, s.withKey(in.Key, k)
	case AlreadyExists:
		return exists && k.CreateID != in.RequestID, s
	case FailedPrecondition, Invalid:
		// Refused before anything was recorded (e.g. pre-params not ready).
		return true, s
	}
	return false, s
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
		// "A key's state never moves backwards and its public key never
		// changes."
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

func stepSign(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	r, known := s.Requests[in.RequestID]
	same := known && r.Key == in.Key && r.Digest == in.Digest
	switch out.Status {
	case Unknown:
		if exists && !known {
			s = s.withRequest(in.RequestID, Request{Key: in.Key, Digest: in.Digest})
		}
		return true, s
	case OK:
		// "Only an active key signs."
		if !exists {
			return false, s
		}
		k, ok := observe(k, KeyView{State: Active})
		if !ok {
			return false, s
		}
		s = s.withKey(in.Key, k)
		if !known {
			return true, s.withRequest(in.RequestID, Request{Key: in.Key, Digest: in.Digest, Signature: out.Signature})
		}
		// "A request id reused with another input is refused."
		if !same {
			return false, s
		}
		// "Every answer to one request id carries the same signature."
		if r.Signature != "" {
			return r.Signature == out.Signature, s
		}
		r.Signature = out.Signature
		return true, s.withRequest(in.RequestID, r)
	case NotFound:
		return !exists, s
	case FailedPrecondition:
		return exists && k.State != Active, s
	case AlreadyExists:
		return known && !same, s
	case Invalid:
		return true, s
	}
	return false, s
}

// stepActivate is the second half of an acknowledged create: the key it
// made becomes active with the public key the create returned.
func stepActivate(s State, in Input, out Output) (bool, State) {
	k, exists := s.Keys[in.Key]
	if !exists || k.CreateID != in.RequestID {
		return false, s
	}
	k, ok := observe(k, out.Key)
	if !ok {
		return false, s
	}
	return true, s.withKey(in.Key, k)
}
