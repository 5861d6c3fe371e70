package sealing

import (
	"errors"
	"testing"
)

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig("/d").Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	for name, mut := range map[string]func(*Config){
		"backend":     func(c *Config) { c.Backend = "tpm" },
		"dir":         func(c *Config) { c.Dir = "" },
		"no pcrs":     func(c *Config) { c.PCRs = nil },
		"pcr range":   func(c *Config) { c.PCRs = []int{24} },
		"pcr dup":     func(c *Config) { c.PCRs = []int{7, 7} },
		"many pcrs":   func(c *Config) { c.PCRs = []int{0, 1, 2, 3, 4, 5, 6, 7, 8} },
		"swtpm addr":  func(c *Config) { c.Backend, c.Address = BackendSWTPM, "localhost" },
		"swtpm port":  func(c *Config) { c.Backend, c.Address = BackendSWTPM, "127.0.0.1:65535" },
		"device path": func(c *Config) { c.Backend, c.Device = BackendDevice, "" },
	} {
		c := DefaultConfig("/d")
		mut(&c)
		if err := c.Validate(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err = %v, want ErrInvalidConfig", name, err)
		}
	}
	c := DefaultConfig("/d")
	c.PCRs = []int{16, 7, 0}
	if got := c.sortedPCRs(); len(got) != 3 || got[0] != 0 || got[1] != 7 || got[2] != 16 {
		t.Fatalf("sortedPCRs = %v", got)
	}
	if p, err := platformAddress("127.0.0.1:2321"); err != nil || p != "127.0.0.1:2322" {
		t.Fatalf("platformAddress = %q, %v", p, err)
	}
}

func TestSealedKEKFileRoundTripAndTruncation(t *testing.T) {
	k := &sealedKEK{pcrs: []uint{7, 16}, pub: []byte("public"), priv: []byte("private"), srkName: []byte("srk")}
	b := k.marshal()
	got, err := unmarshalSealedKEK(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(got.pub) != "public" || string(got.priv) != "private" || string(got.srkName) != "srk" ||
		len(got.pcrs) != 2 || got.pcrs[1] != 16 {
		t.Fatalf("round trip: %+v", got)
	}
	for i := range b {
		if _, err := unmarshalSealedKEK(b[:i]); !errors.Is(err, errKEKFile) {
			t.Fatalf("prefix %d: err = %v, want errKEKFile", i, err)
		}
	}
	if _, err := unmarshalSealedKEK(append(b, 0)); !errors.Is(err, errKEKFile) {
		t.Fatalf("trailing byte: err = %v", err)
	}
}
