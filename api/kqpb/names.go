package kqpb

// This file is written by hand (make proto leaves it alone): the one
// mapping between the wire enums and the names keyquorum shows and stores
// everywhere else (the CLI's tables and JSON, the replicated state, the
// Jepsen histories). Every other package converts through it.

// Names of the key states outside the wire.
const (
	KeyStateNameGenerating = "generating"
	KeyStateNameActive     = "active"
	KeyStateNameFailed     = "failed"
	KeyStateNameStaged     = "staged"
	KeyStateNameRetired    = "retired"
	KeyStateNameRevoked    = "revoked"
	KeyStateNameDestroyed  = "destroyed"
	// NameUnspecified is the name of an enum's zero value, and of a value
	// this build does not know.
	NameUnspecified = "unspecified"
)

// Names of the algorithms outside the wire.
const (
	AlgorithmNameECDSA   = "ecdsa-secp256k1"
	AlgorithmNameEd25519 = "ed25519"
)

// Name is the state's name: "active", "revoked" and so on, or
// NameUnspecified.
func (s KeyState) Name() string {
	switch s {
	case KeyState_KEY_STATE_GENERATING:
		return KeyStateNameGenerating
	case KeyState_KEY_STATE_ACTIVE:
		return KeyStateNameActive
	case KeyState_KEY_STATE_FAILED:
		return KeyStateNameFailed
	case KeyState_KEY_STATE_STAGED:
		return KeyStateNameStaged
	case KeyState_KEY_STATE_RETIRED:
		return KeyStateNameRetired
	case KeyState_KEY_STATE_REVOKED:
		return KeyStateNameRevoked
	case KeyState_KEY_STATE_DESTROYED:
		return KeyStateNameDestroyed
	}
	return NameUnspecified
}

// KeyStateNamed returns the state called name (as Name spells it), or
// KEY_STATE_UNSPECIFIED and false when no state is.
func KeyStateNamed(name string) (KeyState, bool) {
	for v := range KeyState_name {
		if s := KeyState(v); s != KeyState_KEY_STATE_UNSPECIFIED && s.Name() == name {
			return s, true
		}
	}
	return KeyState_KEY_STATE_UNSPECIFIED, false
}

// KeyStateNames are the names of every state but the zero value, in wire
// order.
func KeyStateNames() []string {
	var names []string
	for v := int32(1); ; v++ {
		if _, ok := KeyState_name[v]; !ok {
			return names
		}
		names = append(names, KeyState(v).Name())
	}
}

// Name is the algorithm's name: "ecdsa-secp256k1", "ed25519", or
// NameUnspecified.
func (a Algorithm) Name() string {
	switch a {
	case Algorithm_ECDSA_SECP256K1:
		return AlgorithmNameECDSA
	case Algorithm_ED25519:
		return AlgorithmNameEd25519
	}
	return NameUnspecified
}

// AlgorithmNamed returns the algorithm called name (as Name spells it), or
// ALGORITHM_UNSPECIFIED and false when no algorithm is.
func AlgorithmNamed(name string) (Algorithm, bool) {
	for v := range Algorithm_name {
		if a := Algorithm(v); a != Algorithm_ALGORITHM_UNSPECIFIED && a.Name() == name {
			return a, true
		}
	}
	return Algorithm_ALGORITHM_UNSPECIFIED, false
}
