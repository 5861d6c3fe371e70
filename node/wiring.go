package node

import "github.com/keyquorum/keyquorum/tss"

// fsmCrypto gives the replicated state machine the deterministic checks it
// needs from the threshold engine.
type fsmCrypto struct{}

func (fsmCrypto) KnownAlgorithm(a string) bool {
	_, err := tss.ParseAlgorithm(a)
	return err == nil
}

func (fsmCrypto) CheckMessage(a string, msg []byte) error {
	alg, err := tss.ParseAlgorithm(a)
	if err != nil {
		return err
	}
	return tss.CheckMessage(alg, msg)
}

func (fsmCrypto) Verify(a string, pub, msg, sig []byte) bool {
	alg, err := tss.ParseAlgorithm(a)
	return err == nil && tss.Verify(alg, pub, msg, sig)
}
