package sealing

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// kekFileMagic starts DIR/kek.sealed; the last byte is the format version.
const kekFileMagic = "KQKEK\x01"

// sealedKEK is the on-disk form of the TPM-sealed KEK: the PCRs it is sealed
// to, the TPM2B public and private blobs, and the name of the SRK it was
// created under (to tell "another TPM" apart from a corrupt file). None of it
// is secret without the TPM.
type sealedKEK struct {
	pcrs    []uint
	pub     []byte // tpm2.Marshal(TPM2BPublic)
	priv    []byte // tpm2.Marshal(TPM2BPrivate)
	srkName []byte
}

func (k *sealedKEK) marshal() []byte {
	out := []byte(kekFileMagic)
	out = append(out, byte(len(k.pcrs)))
	for _, p := range k.pcrs {
		out = append(out, byte(p))
	}
	for _, f := range [][]byte{k.pub, k.priv, k.srkName} {
		out = binary.BigEndian.AppendUint16(out, uint16(len(f)))
		out = append(out, f...)
	}
	return out
}

// errKEKFile is returned when DIR/kek.sealed is not a sealed KEK file.
var errKEKFile = errors.New("sealing: malformed sealed KEK file")

func unmarshalSealedKEK(b []byte) (*sealedKEK, error) {
	if len(b) < len(kekFileMagic)+1 || string(b[:len(kekFileMagic)]) != kekFileMagic {
		return nil, fmt.Errorf("%w: bad magic", errKEKFile)
	}
	b = b[len(kekFileMagic):]
	n := int(b[0])
	b = b[1:]
	if n == 0 || n > maxPCRs || len(b) < n {
		return nil, fmt.Errorf("%w: %d PCRs", errKEKFile, n)
	}
	k := &sealedKEK{}
	for _, p := range b[:n] {
		if p > 23 {
			return nil, fmt.Errorf("%w: PCR %d", errKEKFile, p)
		}
		k.pcrs = append(k.pcrs, uint(p))
	}
	b = b[n:]
	for _, f := range []*[]byte{&k.pub, &k.priv, &k.srkName} {
		if len(b) < 2 {
			return nil, fmt.Errorf("%w: truncated", errKEKFile)
		}
		l := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if len(b) < l {
			return nil, fmt.Errorf("%w: truncated", errKEKFile)
		}
		*f = b[:l:l]
		b = b[l:]
	}
	if len(b) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes", errKEKFile, len(b))
	}
	return k, nil
}
