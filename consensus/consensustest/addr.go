package consensustest

import (
	"net"
	"testing"
)

// FreeAddrs returns n distinct 127.0.0.1:port addresses that were free a
// moment ago. All n listeners are held open until every port is chosen, so
// the addresses differ; another process may still take one before use.
func FreeAddrs(t testing.TB, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("consensustest: free port: %v", err)
		}
		defer ln.Close()
		addrs = append(addrs, ln.Addr().String())
	}
	return addrs
}
