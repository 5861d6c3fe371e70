package tsstest

import (
	"context"
	"fmt"

	tsslib "github.com/bnb-chain/tss-lib/v2/tss"
)

// RouteRaw starts raw tss-lib parties (all writing to the shared out
// channel) and routes their messages through WireBytes and UpdateFromBytes
// until ctx ends. Each party has its own queue and update goroutine, so
// routing never blocks a party. Protocol errors are sent on the returned
// channel (buffered; extra errors are dropped). The caller reads the
// parties' end channels and cancels ctx when done. It exists to measure
// tss-lib without the engine.
func RouteRaw(ctx context.Context, parties []tsslib.Party, out <-chan tsslib.Message) <-chan error {
	errs := make(chan error, 2*len(parties))
	report := func(err error) {
		select {
		case errs <- err:
		default:
		}
	}
	type wire struct {
		b     []byte
		from  *tsslib.PartyID
		bcast bool
	}
	queues := make(map[int]chan wire, len(parties))
	for _, p := range parties {
		q := make(chan wire, queueCap)
		queues[p.PartyID().Index] = q
		go func(p tsslib.Party) {
			for {
				select {
				case <-ctx.Done():
					return
				case w := <-q:
					if _, err := p.UpdateFromBytes(w.b, w.from, w.bcast); err != nil {
						report(err)
					}
				}
			}
		}(p)
	}
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case m := <-out:
				b, r, err := m.WireBytes()
				if err != nil {
					report(err)
					continue
				}
				w := wire{b: b, from: r.From, bcast: r.IsBroadcast}
				if r.IsBroadcast || len(r.To) == 0 {
					for idx, q := range queues {
						if idx != r.From.Index {
							q <- w
						}
					}
					continue
				}
				for _, to := range r.To {
					if q, ok := queues[to.Index]; ok {
						q <- w
					} else {
						report(fmt.Errorf("tsstest: no party with index %d", to.Index))
					}
				}
			}
		}
	}()
	for _, p := range parties {
		go func(p tsslib.Party) {
			if err := p.Start(); err != nil {
				report(err)
			}
		}(p)
	}
	return errs
}
