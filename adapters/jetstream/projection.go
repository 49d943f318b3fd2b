package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// ProjectionBucket is the KV bucket of the projection checkpoint of the
// store whose stream is stream (ARCHITECTURE.md, "Engine rules").
func ProjectionBucket(stream string) string { return stream + "_projections" }

// projectionChunk is the largest value written: below the servers'
// default max_payload (1 MiB).
const projectionChunk = 512 << 10

// projectionHead names the slot ("a" or "b") that holds the checkpoint,
// its chunks and their SHA-256. A save writes the other slot, then the
// head, so a reader sees one whole checkpoint or a digest mismatch.
type projectionHead struct {
	Slot   string `json:"slot"`
	Chunks int    `json:"chunks"`
	Size   int    `json:"size"`
	SHA256 []byte `json:"sha256"`
}

const headKey = "head"

func chunkKey(slot string, i int) string { return fmt.Sprintf("%s.%d", slot, i) }

// SaveProjection stores data as the projection checkpoint, creating the
// bucket (the stream's replicas) when it is missing. Only a command that
// writes the store calls it.
func (s *Store) SaveProjection(ctx context.Context, data []byte) error {
	if err := s.usable("save the projection checkpoint"); err != nil {
		return err
	}
	bucket := ProjectionBucket(s.name)
	kv, err := s.js.KeyValue(ctx, bucket)
	if errors.Is(err, natsjs.ErrBucketNotFound) {
		kv, err = s.js.CreateKeyValue(ctx, natsjs.KeyValueConfig{
			Bucket: bucket, Description: "ceremony projection checkpoint (read models and the stream sequence they cover)",
			History: 1, Replicas: s.replicas, Storage: natsjs.FileStorage,
		})
	}
	if err != nil {
		return fmt.Errorf("jetstream: open the projection bucket %s: %w", bucket, err)
	}
	old, _ := readHead(ctx, kv)
	head := projectionHead{Slot: "a", Size: len(data)}
	if old != nil && old.Slot == "a" {
		head.Slot = "b"
	}
	sum := sha256.Sum256(data)
	head.SHA256 = sum[:]
	for off := 0; off < len(data) || head.Chunks == 0; off += projectionChunk {
		end := min(off+projectionChunk, len(data))
		if _, err := kv.Put(ctx, chunkKey(head.Slot, head.Chunks), data[off:end]); err != nil {
			return fmt.Errorf("jetstream: write the projection checkpoint to %s: %w", bucket, err)
		}
		head.Chunks++
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, headKey, hb); err != nil {
		return fmt.Errorf("jetstream: write the projection checkpoint's head to %s: %w", bucket, err)
	}
	// Chunks of this slot past the new end are left from a larger one.
	for i := head.Chunks; ; i++ {
		if _, err := kv.Get(ctx, chunkKey(head.Slot, i)); err != nil {
			break
		}
		_ = kv.Purge(ctx, chunkKey(head.Slot, i))
	}
	return nil
}

// LoadProjection returns the projection checkpoint's bytes, or nil when
// there is none (no bucket, no head). It changes nothing on the server.
// A checkpoint changed while it was read, or damaged, is an error.
func (s *Store) LoadProjection(ctx context.Context) ([]byte, error) {
	if err := s.usable("load the projection checkpoint"); err != nil {
		return nil, err
	}
	bucket := ProjectionBucket(s.name)
	kv, err := s.js.KeyValue(ctx, bucket)
	if errors.Is(err, natsjs.ErrBucketNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: open the projection bucket %s: %w", bucket, err)
	}
	head, err := readHead(ctx, kv)
	if err != nil || head == nil {
		return nil, err
	}
	var buf bytes.Buffer
	buf.Grow(head.Size)
	for i := range head.Chunks {
		e, err := kv.Get(ctx, chunkKey(head.Slot, i))
		if err != nil {
			return nil, fmt.Errorf("jetstream: projection checkpoint chunk %s.%d in %s: %w", head.Slot, i, bucket, err)
		}
		buf.Write(e.Value())
	}
	if sum := sha256.Sum256(buf.Bytes()); buf.Len() != head.Size || !bytes.Equal(sum[:], head.SHA256) {
		return nil, fmt.Errorf("jetstream: projection checkpoint in %s does not match its head (changed while read, or damaged)", bucket)
	}
	return buf.Bytes(), nil
}

// readHead returns the bucket's head, nil when there is none.
func readHead(ctx context.Context, kv natsjs.KeyValue) (*projectionHead, error) {
	e, err := kv.Get(ctx, headKey)
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: read the projection checkpoint's head: %w", err)
	}
	var h projectionHead
	if err := json.Unmarshal(e.Value(), &h); err != nil || (h.Slot != "a" && h.Slot != "b") || h.Chunks < 1 {
		return nil, fmt.Errorf("jetstream: the projection checkpoint's head does not decode")
	}
	return &h, nil
}

// RecordAt returns the event at stream sequence seq: a projection
// checkpoint is checked against the event it says it covers last.
func (s *Store) RecordAt(ctx context.Context, seq uint64) (events.Record, error) {
	if err := s.usable("read"); err != nil {
		return events.Record{}, err
	}
	msg, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return events.Record{}, fmt.Errorf("jetstream: read stream sequence %d: %w", seq, err)
	}
	return decodeRecord(seq, msg.Subject, msg.Data)
}
