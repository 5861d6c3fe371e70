package sealing

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"

	"github.com/google/go-tpm/tpm2"
	"github.com/google/go-tpm/tpm2/transport"
)

// srk is the storage root key: an ECC P-256 primary under the owner
// hierarchy. The same owner seed and template give the same key, so it is
// recreated on every start and never persisted.
type srk struct {
	handle tpm2.TPMHandle
	name   tpm2.TPM2BName
	pub    tpm2.TPMTPublic
}

func createSRK(t transport.TPM) (*srk, error) {
	rsp, err := tpm2.CreatePrimary{
		PrimaryHandle: tpm2.TPMRHOwner,
		InPublic:      tpm2.New2B(tpm2.ECCSRKTemplate),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("sealing: create SRK: %w", err)
	}
	pub, err := rsp.OutPublic.Contents()
	if err != nil {
		return nil, fmt.Errorf("sealing: SRK public: %w", err)
	}
	return &srk{handle: rsp.ObjectHandle, name: rsp.Name, pub: *pub}, nil
}

// parentAuth authorizes use of the SRK as a parent with a session salted to
// the SRK itself, so the session key is unknown to anyone on the bus.
func (s *srk) parentAuth(opts ...tpm2.AuthOption) tpm2.AuthHandle {
	opts = append([]tpm2.AuthOption{tpm2.Salted(s.handle, s.pub)}, opts...)
	return tpm2.AuthHandle{Handle: s.handle, Name: s.name, Auth: tpm2.HMAC(tpm2.TPMAlgSHA256, 16, opts...)}
}

func pcrSelection(pcrs []uint) tpm2.TPMLPCRSelection {
	return tpm2.TPMLPCRSelection{PCRSelections: []tpm2.TPMSPCRSelection{{
		Hash:      tpm2.TPMAlgSHA256,
		PCRSelect: tpm2.PCClientCompatible.PCRs(pcrs...),
	}}}
}

// policyDigest computes the KEK's authPolicy, PolicyPCR(current values of
// pcrs) then PolicyAuthValue, without a trial session.
func policyDigest(t transport.TPM, pcrs []uint) ([]byte, error) {
	sel := pcrSelection(pcrs)
	rsp, err := tpm2.PCRRead{PCRSelectionIn: sel}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("sealing: read PCRs %v: %w", pcrs, err)
	}
	if len(rsp.PCRValues.Digests) != len(pcrs) {
		return nil, fmt.Errorf("sealing: TPM returned %d of %d SHA-256 PCRs %v (bank not allocated?)",
			len(rsp.PCRValues.Digests), len(pcrs), pcrs)
	}
	h := sha256.New()
	for _, d := range rsp.PCRValues.Digests {
		h.Write(d.Buffer)
	}
	calc, err := tpm2.NewPolicyCalculator(tpm2.TPMAlgSHA256)
	if err != nil {
		return nil, fmt.Errorf("sealing: policy calculator: %w", err)
	}
	if err := (tpm2.PolicyPCR{PcrDigest: tpm2.TPM2BDigest{Buffer: h.Sum(nil)}, Pcrs: sel}).Update(calc); err != nil {
		return nil, fmt.Errorf("sealing: policy PCR: %w", err)
	}
	if err := (tpm2.PolicyAuthValue{}).Update(calc); err != nil {
		return nil, fmt.Errorf("sealing: policy auth value: %w", err)
	}
	return calc.Hash().Digest, nil
}

// sealKEK creates a keyedhash sealed object holding kek under the SRK. The
// object can be used only through its policy (UserWithAuth false), is fixed
// to this TPM and parent, and is exempt from dictionary-attack lockout so a
// wrong auth value cannot lock the node out. The sensitive part travels
// encrypted by the salted session.
func sealKEK(t transport.TPM, s *srk, pcrs []uint, auth, kek []byte) (*sealedKEK, error) {
	policy, err := policyDigest(t, pcrs)
	if err != nil {
		return nil, err
	}
	rsp, err := tpm2.Create{
		ParentHandle: s.parentAuth(tpm2.AESEncryption(128, tpm2.EncryptIn)),
		InSensitive: tpm2.TPM2BSensitiveCreate{Sensitive: &tpm2.TPMSSensitiveCreate{
			UserAuth: tpm2.TPM2BAuth{Buffer: auth},
			Data:     tpm2.NewTPMUSensitiveCreate(&tpm2.TPM2BSensitiveData{Buffer: kek}),
		}},
		InPublic: tpm2.New2B(tpm2.TPMTPublic{
			Type:    tpm2.TPMAlgKeyedHash,
			NameAlg: tpm2.TPMAlgSHA256,
			ObjectAttributes: tpm2.TPMAObject{
				FixedTPM:     true,
				FixedParent:  true,
				UserWithAuth: false,
				NoDA:         true,
			},
			AuthPolicy: tpm2.TPM2BDigest{Buffer: policy},
			Parameters: tpm2.NewTPMUPublicParms(tpm2.TPMAlgKeyedHash, &tpm2.TPMSKeyedHashParms{
				Scheme: tpm2.TPMTKeyedHashScheme{Scheme: tpm2.TPMAlgNull},
			}),
		}),
	}.Execute(t)
	if err != nil {
		return nil, fmt.Errorf("sealing: create sealed KEK: %w", err)
	}
	return &sealedKEK{
		pcrs:    pcrs,
		pub:     tpm2.Marshal(rsp.OutPublic),
		priv:    tpm2.Marshal(rsp.OutPrivate),
		srkName: append([]byte(nil), s.name.Buffer...),
	}, nil
}

// unsealKEK loads the sealed object under the SRK and unseals it in a
// salted, response-encrypted policy session that replays PolicyPCR and
// PolicyAuthValue. It maps the TPM's refusals to ErrWrongTPM,
// ErrPolicyMismatch and ErrAuthMismatch.
func unsealKEK(t transport.TPM, s *srk, sk *sealedKEK, auth []byte, log *slog.Logger) ([]byte, error) {
	if string(sk.srkName) != string(s.name.Buffer) {
		return nil, fmt.Errorf("sealing: sealed KEK was made under another storage root key: %w", ErrWrongTPM)
	}
	pub, err := tpm2.Unmarshal[tpm2.TPM2BPublic](sk.pub)
	if err != nil {
		return nil, fmt.Errorf("sealing: sealed KEK public part: %w", err)
	}
	priv, err := tpm2.Unmarshal[tpm2.TPM2BPrivate](sk.priv)
	if err != nil {
		return nil, fmt.Errorf("sealing: sealed KEK private part: %w", err)
	}
	loaded, err := tpm2.Load{ParentHandle: s.parentAuth(), InPrivate: *priv, InPublic: *pub}.Execute(t)
	if err != nil {
		if errors.Is(err, tpm2.TPMRCIntegrity) {
			return nil, fmt.Errorf("sealing: load sealed KEK: %w: %v", ErrWrongTPM, err)
		}
		return nil, fmt.Errorf("sealing: load sealed KEK: %w", err)
	}
	defer flush(t, loaded.ObjectHandle, log)

	sel := pcrSelection(sk.pcrs)
	policy := func(tpm transport.TPM, h tpm2.TPMISHPolicy, _ tpm2.TPM2BNonce) error {
		// An empty PcrDigest makes the TPM use the current PCR values; a
		// mismatch then surfaces at Unseal as TPM_RC_POLICY_FAIL.
		if _, err := (tpm2.PolicyPCR{PolicySession: h, Pcrs: sel}).Execute(tpm); err != nil {
			return fmt.Errorf("policy PCR: %w", err)
		}
		if _, err := (tpm2.PolicyAuthValue{PolicySession: h}).Execute(tpm); err != nil {
			return fmt.Errorf("policy auth value: %w", err)
		}
		return nil
	}
	rsp, err := tpm2.Unseal{ItemHandle: tpm2.AuthHandle{
		Handle: loaded.ObjectHandle,
		Name:   loaded.Name,
		Auth: tpm2.Policy(tpm2.TPMAlgSHA256, 16, policy,
			tpm2.Auth(auth),
			tpm2.Salted(s.handle, s.pub),
			tpm2.AESEncryption(128, tpm2.EncryptOut)),
	}}.Execute(t)
	switch {
	case err == nil:
	case errors.Is(err, tpm2.TPMRCPolicyFail):
		return nil, fmt.Errorf("sealing: unseal KEK (PCRs %v): %w: %v", sk.pcrs, ErrPolicyMismatch, err)
	case errors.Is(err, tpm2.TPMRCAuthFail), errors.Is(err, tpm2.TPMRCBadAuth):
		return nil, fmt.Errorf("sealing: unseal KEK: %w: %v", ErrAuthMismatch, err)
	default:
		return nil, fmt.Errorf("sealing: unseal KEK: %w", err)
	}
	if len(rsp.OutData.Buffer) != KEKSize {
		clear(rsp.OutData.Buffer)
		return nil, fmt.Errorf("sealing: unsealed KEK is %d bytes, want %d", len(rsp.OutData.Buffer), KEKSize)
	}
	return rsp.OutData.Buffer, nil
}
