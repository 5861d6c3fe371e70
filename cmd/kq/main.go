// Command kq is keyquorum's client and operator CLI: it creates keys, signs,
// verifies, shows cluster status and sets up the development certificates.
package main

import (
	"context"
	"os"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}
