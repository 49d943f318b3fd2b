package jetstream

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"

	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// TestBlockRecordsMatchServer: every record the embedded server writes
// to the stream's block files, with headers (an Append) and without, in
// more than one block, parses (blockrecord.go) to the sequence, subject
// and data the server returns for that sequence, and its hash checks. It
// fails when the nats-server in go.mod writes records that this build no
// longer reads as the server does.
func TestBlockRecordsMatchServer(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir, Sync: SyncRelaxed}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	appendChain(t, s, storetest.NewChain("cer-blk"), 0, 5)
	// Raw messages of 64 KiB fill more than one block (8 MiB each).
	big := bytes.Repeat([]byte("0123456789abcdef"), 4<<10)
	for i := range 160 {
		msg := nats.NewMsg("ceremony.raw.bulk")
		msg.Data = append([]byte{byte(i)}, big...)
		if i%3 == 0 {
			msg.Header.Set("X-Test", strings.Repeat("h", i))
		}
		if _, err := s.JetStream().PublishMsg(t.Context(), msg); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	entries, err := streamSeal(cfg.storeDir(), cfg.streamName())
	if err != nil {
		t.Fatal(err)
	}
	blocks, order, err := streamBlocks(entries, cfg.streamName())
	if err != nil {
		t.Fatal(err)
	}
	if len(order) < 2 {
		t.Fatalf("the stream has %d block files, the test needs several", len(order))
	}
	type parsed struct {
		subject string
		data    []byte
	}
	var recs []parsed
	var withHeaders int
	for _, idx := range order {
		data, err := os.ReadFile(filepath.Join(cfg.storeDir(), blocks[idx].Path))
		if err != nil {
			t.Fatal(err)
		}
		h := blockHash(cfg.streamName(), idx)
		for off := 0; off < len(data); {
			r, err := parseBlockRecord(data[off:], h)
			if err != nil {
				t.Fatalf("block %d at %d: %v", idx, off, err)
			}
			if r.Tombstone {
				t.Fatalf("block %d at %d: a tombstone in a stream that never deletes", idx, off)
			}
			if r.Seq != uint64(len(recs)+1) {
				t.Fatalf("block %d at %d: sequence %d after %d", idx, off, r.Seq, len(recs))
			}
			if data[off+3]&0x80 != 0 {
				withHeaders++
			}
			recs = append(recs, parsed{r.Subject, bytes.Clone(r.Msg)})
			off += r.Len
		}
	}
	if withHeaders == 0 || withHeaders == len(recs) {
		t.Fatalf("%d of %d records have headers: the test needs both kinds", withHeaders, len(recs))
	}

	s = openTest(t, dir)
	last, err := s.LastSeq(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if last != uint64(len(recs)) {
		t.Fatalf("parsed %d records, the stream has %d", len(recs), last)
	}
	for i, r := range recs {
		msg, err := s.stream.GetMsg(t.Context(), uint64(i+1))
		if err != nil {
			t.Fatal(err)
		}
		if msg.Subject != r.subject || !bytes.Equal(msg.Data, r.data) {
			t.Fatalf("sequence %d: parsed %s (%d bytes), the server returns %s (%d bytes)", i+1, r.subject, len(r.data), msg.Subject, len(msg.Data))
		}
	}
}

// TestLocatorBuiltOnThePreviousOne: the locator an orderly close writes
// when the store opened on a holding seal (built on the previous one,
// scanning only newer records) is byte for byte the one a whole scan
// builds, and ReadSealedCeremony gives each ceremony's records as the
// server does; an unknown ceremony has none.
func TestLocatorBuiltOnThePreviousOne(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{DataDir: dir}
	parts := map[string][]byte{"meta": []byte("{}")}
	chains := map[string]*storetest.Chain{}
	last := map[string]uint64{}
	appendTo := func(s *Store, id string, n int) {
		t.Helper()
		if chains[id] == nil {
			chains[id] = storetest.NewChain(id)
		}
		last[id] = appendChain(t, s, chains[id], last[id], n)
	}
	closeSealed := func(s *Store) {
		t.Helper()
		seq, err := s.LastSeq(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		s.SealProjection(parts, seq)
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	s, err := Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.openSeal != "" {
		t.Fatal("a new store names a seal that held at its start")
	}
	appendTo(s, "cer-a", 3)
	appendTo(s, "cer-b", 2)
	closeSealed(s)
	path := filepath.Join(dir, locatorFile)
	first, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	firstSeal, _, err := heldSeal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, err = Open(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if s.openSeal == "" {
		t.Fatal("a store opened after an orderly close names no seal that held at its start")
	}
	appendTo(s, "cer-a", 2)
	appendTo(s, "cer-c", 4)
	closeSealed(s)

	built, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	seal, entries, err := heldSeal(cfg)
	if err != nil || len(entries) == 0 || len(seal) == 0 {
		t.Fatalf("the seal does not hold after an orderly close: %v", err)
	}
	if err := writeLocator(dir, cfg.storeDir(), cfg.streamName(), 11, ""); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(built, whole) {
		t.Fatalf("the locator built on the previous one differs from a whole scan's:\n%q\n%q", built, whole)
	}
	// The first locator leads on to the same one, scanning from where it
	// ended (a scan from elsewhere meets a sequence out of order).
	firstPath := filepath.Join(t.TempDir(), locatorFile)
	if err := os.WriteFile(firstPath, first, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(firstSeal)
	b, err := readWholeLocator(firstPath, hex.EncodeToString(sum[:]), cfg.streamName())
	if err != nil || b.lastSeq != 5 {
		t.Fatalf("the first locator reads back to sequence %d: %v", b.lastSeq, err)
	}
	blocks, order, err := streamBlocks(entries, cfg.streamName())
	if err != nil {
		t.Fatal(err)
	}
	if err := b.scan(cfg.storeDir(), cfg.streamName(), blocks, order); err != nil {
		t.Fatalf("the scan after the first locator: %v", err)
	}
	sum = sha256.Sum256(seal)
	w, err := readWholeLocator(path, hex.EncodeToString(sum[:]), cfg.streamName())
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(b, w) {
		t.Fatalf("built on the first locator:\n%+v\na whole scan:\n%+v", b, w)
	}

	got := map[string][][]byte{}
	for _, id := range []string{"cer-a", "cer-b", "cer-c", "cer-none"} {
		sc, err := ReadSealedCeremony(cfg, id)
		if err != nil {
			t.Fatalf("ReadSealedCeremony(%s): %v", id, err)
		}
		for _, r := range sc.Records {
			got[id] = append(got[id], r.Data)
		}
	}
	s = openTest(t, dir)
	for _, id := range []string{"cer-a", "cer-b", "cer-c", "cer-none"} {
		want, err := s.Load(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if len(got[id]) != len(want) {
			t.Fatalf("%s: %d records through the locator, %d through the server", id, len(got[id]), len(want))
		}
		for i, r := range want {
			if !bytes.Equal(got[id][i], r.Data) {
				t.Fatalf("%s event %d: through the locator %q, through the server %q", id, i+1, got[id][i], r.Data)
			}
		}
	}
	if len(got["cer-a"]) != 5 || len(got["cer-c"]) != 4 {
		t.Fatalf("through the locator: cer-a %d events, cer-c %d; want 5 and 4", len(got["cer-a"]), len(got["cer-c"]))
	}
}
