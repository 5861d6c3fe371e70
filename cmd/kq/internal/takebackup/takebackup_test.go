package takebackup

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/keyquorum/keyquorum/api/kqpb"
)

// chunks replays a stream of chunks, then io.EOF.
func chunks(cs ...*kqpb.BackupChunk) func() (*kqpb.BackupChunk, error) {
	return func() (*kqpb.BackupChunk, error) {
		if len(cs) == 0 {
			return nil, io.EOF
		}
		c := cs[0]
		cs = cs[1:]
		return c, nil
	}
}

// TestCollectSealedJoinsChunksPerFile: files split over chunks arrive
// whole and in order, an empty file too; a chunk of another file inside
// one, or a stream ending mid-file, is an error, not a short file.
func TestCollectSealedJoinsChunksPerFile(t *testing.T) {
	got := map[string]string{}
	var order []string
	store := func(rel string, r io.Reader) error {
		var b bytes.Buffer
		if _, err := io.Copy(&b, r); err != nil {
			return err
		}
		got[rel] = b.String()
		order = append(order, rel)
		return nil
	}
	err := collectSealed(chunks(
		&kqpb.BackupChunk{Path: "shares/a/v1.sealed", Data: []byte("ab")},
		&kqpb.BackupChunk{Path: "shares/a/v1.sealed", Data: []byte("cd")},
		&kqpb.BackupChunk{Path: "shares/a/v1.sealed", Data: []byte("e"), Last: true},
		&kqpb.BackupChunk{Path: "preparams.sealed", Last: true},
		&kqpb.BackupChunk{Path: "tpm/kek.sealed", Data: []byte("k"), Last: true},
	), store)
	if err != nil {
		t.Fatal(err)
	}
	if got["shares/a/v1.sealed"] != "abcde" || got["preparams.sealed"] != "" || got["tpm/kek.sealed"] != "k" ||
		strings.Join(order, " ") != "shares/a/v1.sealed preparams.sealed tpm/kek.sealed" {
		t.Fatalf("collected %q in order %v", got, order)
	}

	for name, cs := range map[string][]*kqpb.BackupChunk{
		"another file inside one":  {{Path: "a.sealed", Data: []byte("x")}, {Path: "b.sealed", Data: []byte("y"), Last: true}},
		"the stream ends mid-file": {{Path: "a.sealed", Data: []byte("x")}},
	} {
		if err := collectSealed(chunks(cs...), store); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}
