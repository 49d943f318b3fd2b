package jetstream

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// ProjectionBucket is the KV bucket of the projection checkpoint of the
// store whose stream is stream (ARCHITECTURE.md, "Engine rules").
func ProjectionBucket(stream string) string { return stream + "_projections" }

// projectionChunk is the largest value written: below the servers'
// default max_payload (1 MiB).
const projectionChunk = 512 << 10

// projectionHead names the slot ("a" or "b") that holds the checkpoint
// and, for each of its named parts, the number of chunks, the size and
// the SHA-256. A save writes the other slot, then the head, so a reader
// sees one whole checkpoint or a digest mismatch. A reader fetches only
// the parts it needs.
type projectionHead struct {
	Slot  string                  `json:"slot"`
	Parts map[string]headPartInfo `json:"parts"`
}

type headPartInfo struct {
	Chunks int    `json:"chunks"`
	Size   int    `json:"size"`
	SHA256 []byte `json:"sha256"`
}

const headKey = "head"

// partName is what a part may be called: it is part of a KV key.
var partName = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

func chunkKey(slot, part string, i int) string { return fmt.Sprintf("%s.%s.%d", slot, part, i) }

// SaveProjection stores parts (name to bytes) as the projection
// checkpoint, creating the bucket (the stream's replicas) when it is
// missing. Keys of the slot written that the new checkpoint does not use
// (a larger earlier one, an older layout) are purged after the head.
func (s *Store) SaveProjection(ctx context.Context, parts map[string][]byte) error {
	if err := s.usable("save the projection checkpoint"); err != nil {
		return err
	}
	if len(parts) == 0 {
		return fmt.Errorf("jetstream: a projection checkpoint of no parts")
	}
	for name := range parts {
		if !partName.MatchString(name) {
			return fmt.Errorf("jetstream: projection checkpoint part %q: use lower-case letters, digits and _", name)
		}
	}
	if s.storeDir != "" {
		// The copy next to the seal is no longer this checkpoint's.
		if err := removeSealedProjection(filepath.Dir(s.storeDir)); err != nil {
			return err
		}
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
	head := projectionHead{Slot: "a", Parts: map[string]headPartInfo{}}
	if old != nil && old.Slot == "a" {
		head.Slot = "b"
	}
	written := map[string]bool{headKey: true}
	names := make([]string, 0, len(parts))
	for name := range parts {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		data := parts[name]
		sum := sha256.Sum256(data)
		info := headPartInfo{Size: len(data), SHA256: sum[:]}
		for off := 0; off < len(data) || info.Chunks == 0; off += projectionChunk {
			end := min(off+projectionChunk, len(data))
			key := chunkKey(head.Slot, name, info.Chunks)
			if _, err := kv.Put(ctx, key, data[off:end]); err != nil {
				return fmt.Errorf("jetstream: write the projection checkpoint's %s to %s: %w", name, bucket, err)
			}
			written[key] = true
			info.Chunks++
		}
		head.Parts[name] = info
	}
	hb, err := json.Marshal(head)
	if err != nil {
		return err
	}
	if _, err := kv.Put(ctx, headKey, hb); err != nil {
		return fmt.Errorf("jetstream: write the projection checkpoint's head to %s: %w", bucket, err)
	}
	// What this slot held before, and keys of an older layout: the other
	// slot's keys stay for a reader still reading them.
	keys, err := kv.ListKeys(ctx)
	if err != nil {
		return nil
	}
	for key := range keys.Keys() {
		if !written[key] && (strings.HasPrefix(key, head.Slot+".") || strings.Count(key, ".") != 2) {
			_ = kv.Purge(ctx, key)
		}
	}
	return nil
}

// LoadProjection returns the named parts of the projection checkpoint
// (every part when none is named), or nil when there is none (no bucket,
// no head). It changes nothing on the server. A checkpoint changed while
// it was read, damaged, or without a part named is an error.
func (s *Store) LoadProjection(ctx context.Context, names ...string) (map[string][]byte, error) {
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
	if len(names) == 0 {
		for name := range head.Parts {
			names = append(names, name)
		}
	}
	out := make(map[string][]byte, len(names))
	for _, name := range names {
		info, ok := head.Parts[name]
		if !ok {
			return nil, fmt.Errorf("jetstream: the projection checkpoint in %s has no part %q", bucket, name)
		}
		var buf bytes.Buffer
		buf.Grow(info.Size)
		for i := range info.Chunks {
			e, err := kv.Get(ctx, chunkKey(head.Slot, name, i))
			if err != nil {
				return nil, fmt.Errorf("jetstream: projection checkpoint chunk %s in %s: %w", chunkKey(head.Slot, name, i), bucket, err)
			}
			buf.Write(e.Value())
		}
		if sum := sha256.Sum256(buf.Bytes()); buf.Len() != info.Size || !bytes.Equal(sum[:], info.SHA256) {
			return nil, fmt.Errorf("jetstream: the projection checkpoint's %s in %s does not match its head (changed while read, or damaged)", name, bucket)
		}
		out[name] = buf.Bytes()
	}
	return out, nil
}

// readHead returns the bucket's head, nil when there is none. A head of
// another layout (one of an older build) does not decode.
func readHead(ctx context.Context, kv natsjs.KeyValue) (*projectionHead, error) {
	e, err := kv.Get(ctx, headKey)
	if errors.Is(err, natsjs.ErrKeyNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: read the projection checkpoint's head: %w", err)
	}
	var h projectionHead
	d := json.NewDecoder(bytes.NewReader(e.Value()))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil || (h.Slot != "a" && h.Slot != "b") || len(h.Parts) == 0 {
		return nil, fmt.Errorf("jetstream: the projection checkpoint's head does not decode (damaged, or of an older layout)")
	}
	for name, p := range h.Parts {
		if !partName.MatchString(name) || p.Chunks < 1 || p.Size < 0 || len(p.SHA256) != sha256.Size {
			return nil, fmt.Errorf("jetstream: the projection checkpoint's head does not decode (part %q)", name)
		}
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
	return decodeRecord(new(events.Decoder), seq, msg.Subject, msg.Data)
}
