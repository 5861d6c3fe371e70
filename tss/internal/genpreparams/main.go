// Command genpreparams writes test-only ECDSA keygen pre-parameter fixtures
// (n1.json … nN.json) so tests never generate them. The output is public and
// must never be used for real keys.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"time"

	"github.com/keyquorum/keyquorum/tss"
)

func main() {
	out := flag.String("out", "tss/testdata/preparams", "output directory")
	n := flag.Int("n", 5, "number of fixture files")
	from := flag.Int("from", 1, "first fixture number")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, *out, *from, *n); err != nil {
		fmt.Fprintln(os.Stderr, "genpreparams:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out string, from, n int) error {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	for i := from; i < from+n; i++ {
		path := filepath.Join(out, fmt.Sprintf("n%d.json", i))
		start := time.Now()
		fmt.Printf("generating %s\n", path)
		pp, err := tss.GeneratePreParams(ctx, func(el time.Duration) {
			fmt.Printf("  %s: %s elapsed\n", path, el.Round(time.Second))
		})
		if err != nil {
			return err
		}
		b, err := pp.MarshalBinary()
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, b, 0o644); err != nil {
			return err
		}
		fmt.Printf("wrote %s in %s\n", path, time.Since(start).Round(time.Millisecond))
	}
	return nil
}
