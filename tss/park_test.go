package tss_test

import (
	"context"
	"sync"
	"testing"

	"github.com/keyquorum/keyquorum/tss"
)

func TestParkedECDSASessionBindsLater(t *testing.T) {
	f := sharedKey(t, tss.ECDSASecp256k1)
	digest := randomBytes(t, 32)
	sid := newSID(t)
	var parkedWG sync.WaitGroup
	parkedWG.Add(len(committees[1]))
	allParked := make(chan struct{})
	go func() { parkedWG.Wait(); close(allParked) }()
	type res struct {
		sig []byte
		err error
	}
	ch := make(chan res, 2)
	for _, id := range committees[1] {
		go func() {
			sig, err := f.engines[id].SignParked(context.Background(), tss.SignRequest{Session: sid, Share: f.shares[id],
				Committee: committees[1]}, digest, func() { parkedWG.Done(); <-allParked })
			ch <- res{sig, err}
		}()
	}
	for range committees[1] {
		r := <-ch
		if r.err != nil {
			t.Fatal(r.err)
		}
		checkECDSA(t, f.shares["node-a"].PublicKey(), digest, r.sig)
	}
}
