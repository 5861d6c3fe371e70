package node_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"io"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/keyquorum/keyquorum/api/kqpb"
	"github.com/keyquorum/keyquorum/backup"
	"github.com/keyquorum/keyquorum/node/nodetest"
)

// TestBackupServiceContract on an in-process cluster: a follower refuses
// the snapshot as UNAVAILABLE (kq moves on to the leader); the leader's
// snapshot decodes as a replica decodes it and holds the audit key; a
// manifest hash of the wrong size is INVALID_ARGUMENT; the audit key's
// signature over a manifest verifies with crypto/ed25519 under the backup
// tag, and only under it.
func TestBackupServiceContract(t *testing.T) {
	c := nodetest.Start(t, nodetest.Options{ElectionTimeout: 300 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	leader, err := c.Leader(ctx)
	if err != nil {
		t.Fatal(err)
	}
	follower := c.IDs()[0]
	if follower == leader {
		follower = c.IDs()[1]
	}
	client := func(id string) kqpb.BackupServiceClient {
		conn, err := c.Conn(id)
		if err != nil {
			t.Fatal(err)
		}
		return kqpb.NewBackupServiceClient(conn)
	}
	snapshot := func(id string) (*kqpb.BackupSnapshotMeta, []byte, error) {
		stream, err := client(id).Snapshot(ctx, &kqpb.BackupSnapshotRequest{})
		if err != nil {
			return nil, nil, err
		}
		var meta *kqpb.BackupSnapshotMeta
		var data bytes.Buffer
		for {
			ch, err := stream.Recv()
			if errors.Is(err, io.EOF) {
				return meta, data.Bytes(), nil
			}
			if err != nil {
				return nil, nil, err
			}
			if meta == nil {
				meta = ch.Meta
			}
			data.Write(ch.Data)
		}
	}
	if _, _, err := snapshot(follower); status.Code(err) != codes.Unavailable {
		t.Fatalf("snapshot from a follower: %v, want UNAVAILABLE", err)
	}

	// The audit key appears once every member is reachable.
	var facts backup.Facts
	for {
		meta, data, err := snapshot(leader)
		if err != nil {
			t.Fatal(err)
		}
		if meta == nil || meta.Index == 0 || len(meta.Servers) != 3 || int64(len(data)) != meta.Size {
			t.Fatalf("snapshot meta %+v for %d bytes", meta, len(data))
		}
		if facts, err = backup.Inspect(bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if facts.AuditPublicKey != nil || ctx.Err() != nil {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if len(facts.AuditPublicKey) != ed25519.PublicKeySize {
		t.Fatalf("no audit key in the snapshot: %+v", facts)
	}

	if _, err := client(leader).SignManifest(ctx, &kqpb.SignManifestRequest{ManifestSha256: make([]byte, 31)}); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("sign a 31-byte hash: %v, want INVALID_ARGUMENT", err)
	}
	sum := sha256.Sum256([]byte("a manifest"))
	resp, err := client(leader).SignManifest(ctx, &kqpb.SignManifestRequest{ManifestSha256: sum[:]})
	if err != nil {
		t.Fatal(err)
	}
	pub := ed25519.PublicKey(resp.PublicKey)
	if !bytes.Equal(pub, facts.AuditPublicKey) || !ed25519.Verify(pub, backup.ManifestMessage(sum), resp.Signature) {
		t.Fatalf("the manifest signature does not verify under the audit key: %+v", resp)
	}
	if ed25519.Verify(pub, sum[:], resp.Signature) {
		t.Fatal("the signature verifies over the bare hash: the backup tag is not signed")
	}
}
