package main

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
)

// withStore opens the data directory's store for f, then closes it.
func withStore(t *testing.T, data string, f func(st *jetstream.Store)) {
	t.Helper()
	st, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f(st)
}

// TestProjectionCheckpointUsedOrIgnored: the demo (a writer) leaves a
// projection checkpoint covering the whole stream; list, cards and health
// read it. A damaged checkpoint, one of another version, one past the
// stream's end and one of another history are each ignored with a reason,
// and the three commands print exactly what they print from a good one.
func TestProjectionCheckpointUsedOrIgnored(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	dir := t.TempDir()
	if code, out := runIn(t, "demo", "--dir", dir); code != exitOK {
		t.Fatalf("demo: exit %d\n%s", code, out)
	}
	data := filepath.Join(dir, "data")
	ctx := context.Background()
	var good map[string][]byte
	withStore(t, data, func(st *jetstream.Store) {
		cp, why := loadCheckpoint(ctx, st)
		last, err := st.LastSeq(ctx)
		if cp == nil || err != nil || cp.Seq != last || len(cp.Ceremonies) == 0 {
			t.Fatalf("after the demo: checkpoint %v (%s), stream ends at %d (%v); want one covering the stream", cp, why, last, err)
		}
		if good, err = st.LoadProjection(ctx); err != nil {
			t.Fatal(err)
		}
	})
	outputs := func() string {
		var all []string
		for _, cmd := range []string{"list", "cards", "health"} {
			code, out := runIn(t, cmd, "--data-dir", data)
			if code != exitOK && code != exitCritical {
				t.Fatalf("%s: exit %d\n%s", cmd, code, out)
			}
			all = append(all, out)
		}
		return strings.Join(all, "\n")
	}
	want := outputs()
	if !strings.Contains(want, "gen-") {
		t.Fatalf("list shows no generate:\n%s", want)
	}

	with := func(part string, data []byte) map[string][]byte {
		out := map[string][]byte{}
		for k, v := range good {
			out[k] = v
		}
		out[part] = data
		return out
	}
	edit := func(f func(m map[string]any)) map[string][]byte {
		var m map[string]any
		if err := json.Unmarshal(good[kinds.PartMeta], &m); err != nil {
			t.Fatal(err)
		}
		f(m)
		b, _ := json.Marshal(m)
		return with(kinds.PartMeta, b)
	}
	cer := good[kinds.PartCeremonies]
	for _, c := range []struct {
		name, why string
		data      map[string][]byte
	}{
		{"damaged", "does not decode", with(kinds.PartCeremonies, cer[:len(cer)-7])},
		{"damaged inventory", "inventory does not decode", with(kinds.PartInventory, []byte("{"))},
		{"another version", "version", edit(func(m map[string]any) { m["version"] = kinds.CheckpointVersion + 1 })},
		{"another schema", "another set of kinds", edit(func(m map[string]any) { m["schema"] = strings.Repeat("0", 64) })},
		{"past the end", "the stream ends at", edit(func(m map[string]any) { m["seq"] = m["seq"].(float64) + 100 })},
		{"another history", "holds another event", edit(func(m map[string]any) { m["seq_hash"] = strings.Repeat("0", 64) })},
	} {
		withStore(t, data, func(st *jetstream.Store) {
			if err := st.SaveProjection(ctx, c.data); err != nil {
				t.Fatal(err)
			}
			if cp, why := loadCheckpoint(ctx, st); cp != nil || !strings.Contains(why, c.why) {
				t.Errorf("%s: loadCheckpoint = %v, %q; want none, saying %q", c.name, cp, why, c.why)
			}
		})
		if got := outputs(); got != want {
			t.Errorf("%s checkpoint: list, cards and health print\n%s\nwant\n%s", c.name, got, want)
		}
	}

	// The control: a checkpoint that decodes but says otherwise is used.
	withStore(t, data, func(st *jetstream.Store) {
		cp, err := kinds.DecodeCheckpoint(good, st.StreamName())
		if err != nil {
			t.Fatal(err)
		}
		for i := range cp.Ceremonies {
			cp.Ceremonies[i].Phase = "lied-about"
		}
		lying, err := cp.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if err := st.SaveProjection(ctx, lying); err != nil {
			t.Fatal(err)
		}
	})
	if code, out := runIn(t, "list", "--data-dir", data); code != exitOK || !strings.Contains(out, "lied-about") {
		t.Fatalf("list does not read the checkpoint (exit %d):\n%s", code, out)
	}
}
