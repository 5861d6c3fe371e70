package frost

import (
	"errors"
	"strings"
)

var (
	// ErrInvalidIdentifier is returned for an identifier that is zero, not
	// below the group order, or not a 32-byte canonical scalar.
	ErrInvalidIdentifier = errors.New("frost: invalid identifier")
	// ErrInvalidScalar is returned when a scalar encoding is not 32 bytes or
	// not canonical (RFC 9591 Section 6.1 DeserializeScalar).
	ErrInvalidScalar = errors.New("frost: invalid scalar")
	// ErrInvalidElement is returned when a point encoding is not 32 bytes, not
	// canonical, not on the curve, the identity, or outside the prime-order
	// subgroup (RFC 9591 Section 6.1 DeserializeElement).
	ErrInvalidElement = errors.New("frost: invalid element")
	// ErrInvalidKeyShare is returned for a key share that is zero, wiped, or
	// does not match the public data given with it.
	ErrInvalidKeyShare = errors.New("frost: invalid key share")
	// ErrInvalidGroup is returned when group info is inconsistent: a bad
	// threshold, or verifying shares that do not interpolate to the group key.
	ErrInvalidGroup = errors.New("frost: invalid group info")
	// ErrSignerCount is returned when a commitment or share list is empty,
	// longer than MaxSigners, or shorter than the group's MinSigners.
	ErrSignerCount = errors.New("frost: wrong number of signers")
	// ErrDuplicateIdentifier is returned when an identifier appears twice in
	// a commitment list, share list or group.
	ErrDuplicateIdentifier = errors.New("frost: duplicate identifier")
	// ErrUnknownSigner is returned when an identifier is not where it must
	// be: a signer absent from the commitment list, a commitment from a
	// non-member, or a share with no commitment.
	ErrUnknownSigner = errors.New("frost: unknown signer")
	// ErrMissingShare is returned by Aggregate when a committed signer sent
	// no share.
	ErrMissingShare = errors.New("frost: missing signature share")
	// ErrCommitmentMismatch is returned by Sign when the commitment list
	// carries a commitment for this signer other than the one its nonces made.
	ErrCommitmentMismatch = errors.New("frost: commitment does not match nonces")
	// ErrNoncesUsed is returned by Sign for nonces already consumed (or never
	// made by Commit).
	ErrNoncesUsed = errors.New("frost: nonces already used")
	// ErrIdentityCommitment is returned when the group commitment R is the
	// identity, which RFC 9591 Section 6.1 SerializeElement refuses; honest
	// commitments produce it with negligible probability.
	ErrIdentityCommitment = errors.New("frost: group commitment is the identity")
	// ErrInvalidShare is wrapped by InvalidShareError.
	ErrInvalidShare = errors.New("frost: invalid signature share")
	// ErrInvalidSignature is returned by Aggregate when the aggregate does not
	// verify although every share does: the group info does not match the
	// key shares that signed.
	ErrInvalidSignature = errors.New("frost: aggregate signature does not verify")
)

// InvalidShareError names the signers whose signature shares fail
// verify_signature_share (RFC 9591 Sections 5.3 and 5.4). Culprits is sorted
// by identifier and never empty. It wraps ErrInvalidShare.
type InvalidShareError struct {
	Culprits []Identifier
}

func (e *InvalidShareError) Error() string {
	ids := make([]string, len(e.Culprits))
	for i, id := range e.Culprits {
		ids[i] = id.String()
	}
	return "frost: invalid signature share from signer(s) " + strings.Join(ids, ", ")
}

func (e *InvalidShareError) Unwrap() error { return ErrInvalidShare }
