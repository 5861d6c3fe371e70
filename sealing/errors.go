package sealing

import "errors"

var (
	// ErrBindingMismatch is returned by Open when a blob does not authenticate
	// under the given Binding: it was sealed for another cluster, node, kind,
	// key, version or epoch, under another KEK, or it was corrupted.
	ErrBindingMismatch = errors.New("sealing: sealed blob bound elsewhere or corrupted")
	// ErrMalformedBlob is returned when a blob is too short or has an unknown
	// format version, before any decryption is tried.
	ErrMalformedBlob = errors.New("sealing: malformed sealed blob")
	// ErrInvalidBinding is returned when a Binding lacks a required field or
	// names an unknown kind.
	ErrInvalidBinding = errors.New("sealing: invalid binding")
	// ErrPolicyMismatch is returned when the TPM refuses to unseal the KEK
	// because its policy is not satisfied: the sealed PCRs changed since the
	// KEK was sealed (TPM_RC_POLICY_FAIL).
	ErrPolicyMismatch = errors.New("sealing: TPM policy not satisfied (PCR values changed since sealing)")
	// ErrAuthMismatch is returned when the TPM rejects the auth value while
	// unsealing the KEK: AuthFile (or DIR/kek.auth) is not the one used at
	// sealing.
	ErrAuthMismatch = errors.New("sealing: TPM rejected the KEK auth value")
	// ErrWrongTPM is returned when the TPM cannot load the sealed KEK
	// (TPM_RC_INTEGRITY): the blob was made by another TPM, or this TPM was
	// cleared, or (simulator) the seed changed.
	ErrWrongTPM = errors.New("sealing: sealed KEK does not belong to this TPM")
	// ErrClosed is returned by Seal and Open after Close.
	ErrClosed = errors.New("sealing: sealer closed")
	// ErrInvalidConfig is returned by Config.Validate and OpenTPM for an
	// unusable configuration.
	ErrInvalidConfig = errors.New("sealing: invalid config")
)
