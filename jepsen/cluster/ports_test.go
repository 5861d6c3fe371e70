package cluster

import "testing"

// Two clusters, as of two test processes running side by side, never get
// the same port, and a port comes back once its cluster released it.
func TestPortsAreClaimedAcrossClusters(t *testing.T) {
	var a, b ports
	got, err := a.free(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, port := range got {
		if b.take(port) {
			t.Fatalf("port %d was handed to a second cluster while the first held it", port)
		}
	}
	a.release()
	for _, port := range got {
		if !b.take(port) {
			t.Fatalf("port %d stayed claimed after its cluster released it", port)
		}
	}
	b.release()
}
