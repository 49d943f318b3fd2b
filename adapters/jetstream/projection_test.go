package jetstream

import (
	"bytes"
	"slices"
	"strings"
	"testing"
)

// TestProjectionParts: a checkpoint's parts are saved apart and read
// back one by one or all; a part of several chunks comes back whole; a
// smaller checkpoint leaves no key of the larger one it replaced in its
// slot; a part not in the checkpoint, a damaged chunk and a head of the
// older one-blob layout are errors that say so.
func TestProjectionParts(t *testing.T) {
	ctx := t.Context()
	s := openTest(t, t.TempDir())
	if got, err := s.LoadProjection(ctx); got != nil || err != nil {
		t.Fatalf("no checkpoint yet: %v, %v", got, err)
	}
	big := bytes.Repeat([]byte("0123456789abcdef"), projectionChunk/16*2+5) // 3 chunks
	parts := map[string][]byte{"meta": []byte(`{"seq":1}`), "big": big, "empty": {}}
	for range 2 { // both slots
		if err := s.SaveProjection(ctx, parts); err != nil {
			t.Fatal(err)
		}
	}
	all, err := s.LoadProjection(ctx)
	if err != nil || len(all) != 3 || !bytes.Equal(all["big"], big) || string(all["meta"]) != `{"seq":1}` || len(all["empty"]) != 0 {
		t.Fatalf("all parts: %d parts, big %d bytes (%v)", len(all), len(all["big"]), err)
	}
	one, err := s.LoadProjection(ctx, "meta")
	if err != nil || len(one) != 1 || string(one["meta"]) != `{"seq":1}` {
		t.Fatalf("meta alone: %q (%v)", one, err)
	}
	if _, err := s.LoadProjection(ctx, "meta", "other"); err == nil || !strings.Contains(err.Error(), `no part "other"`) {
		t.Errorf("a part it has not: %v", err)
	}
	if err := s.SaveProjection(ctx, map[string][]byte{"Bad.Name": nil}); err == nil {
		t.Error("a part name with a dot was saved")
	}

	kv, err := s.js.KeyValue(ctx, ProjectionBucket(s.name))
	if err != nil {
		t.Fatal(err)
	}
	keys := func() []string {
		l, err := kv.ListKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for k := range l.Keys() {
			out = append(out, k)
		}
		slices.Sort(out)
		return out
	}
	// Smaller, twice (both slots): only its own keys are left.
	small := map[string][]byte{"meta": []byte(`{}`)}
	for range 2 {
		if err := s.SaveProjection(ctx, small); err != nil {
			t.Fatal(err)
		}
	}
	if got := keys(); !slices.Equal(got, []string{"a.meta.0", "b.meta.0", "head"}) {
		t.Errorf("keys after two smaller saves: %v", got)
	}

	// A damaged chunk.
	head, err := readHead(ctx, kv)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, chunkKey(head.Slot, "meta", 0), []byte(`{"x"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadProjection(ctx); err == nil || !strings.Contains(err.Error(), "does not match its head") {
		t.Errorf("a damaged chunk: %v", err)
	}
	// The head of the older layout (one blob in chunks): refused, and the
	// next save purges its chunks.
	if _, err := kv.Put(ctx, "a.0", []byte("{}")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, headKey, []byte(`{"slot":"a","chunks":1,"size":2,"sha256":"RBNvo1WzZ4oRRq0W9+hknpT7T8If536DEMBg9hyq/4o="}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.LoadProjection(ctx); err == nil || !strings.Contains(err.Error(), "older layout") {
		t.Errorf("an older head: %v", err)
	}
	if err := s.SaveProjection(ctx, small); err != nil {
		t.Fatal(err)
	}
	if got := keys(); slices.Contains(got, "a.0") {
		t.Errorf("the older layout's chunk is left: %v", got)
	}
}
