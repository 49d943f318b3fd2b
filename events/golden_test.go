package events_test

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// goldenV1 is a backup-key-generate ceremony as schema v1 stored it. The
// file is committed and never regenerated unless v1 itself was written
// down wrong: every later build must keep decoding it.
var goldenV1 = filepath.Join("..", "testdata", "events", "v1", "backupkey-generate.jsonl")

// Facts of the golden ceremony that the tests check.
const (
	goldenCeremony = "bkg-20250314-01"
	goldenKind     = "backup-key-generate"
	goldenKeySet   = "3f1c9a7e5b2d4c6a8e0f1a2b3c4d5e6f"
	goldenKCV      = "5e1a9c"
	goldenHSM      = "softhsm2:token=backup"
	goldenReader   = "Virtual PCD 00 00"
	goldenCard1    = "000500001234"
	goldenCard2    = "000500001235"
	goldenCard3    = "000500001236"
)

// cardPresentedV1 is card.presented as schema v1 wrote it: no reader_class.
type cardPresentedV1 struct {
	Reader string `json:"reader"`
	Serial string `json:"serial"`
	Slot   int    `json:"slot"`
}

// overwriteConfirmedV1 is backupkey.overwrite_confirmed as schema v1 wrote
// it: no previous_kcv, no foreign.
type overwriteConfirmedV1 struct {
	Serial           string `json:"serial"`
	PreviousKeySetID string `json:"previous_key_set_id"`
	PreviousIndex    int    `json:"previous_index"`
	Live             bool   `json:"live"`
}

// goldenStep is one event of the golden ceremony. after is the time since
// the event before it.
type goldenStep struct {
	src   events.Source
	typ   string
	body  any
	after time.Duration
}

// goldenV1Steps returns the golden ceremony from fixed inputs: 2-of-3,
// one wrong PIN, one timeout and retry, a card that held a share of a live
// set (overwrite confirmed), a failed write, a card read twice in the
// reading phase, then the key loaded into the HSM.
func goldenV1Steps() []goldenStep {
	var s []goldenStep
	add := func(src events.Source, after time.Duration, p any) {
		typ := ""
		switch v := p.(type) {
		case cardPresentedV1:
			typ = "card.presented"
		case overwriteConfirmedV1:
			typ = "backupkey.overwrite_confirmed"
		case events.Payload:
			typ = v.EventType()
		}
		s = append(s, goldenStep{src: src, typ: typ, body: p, after: after})
	}
	const deadline = 2 * time.Minute
	// step adds a step deadline and, if done, its completion after took.
	step := func(name string, took time.Duration) {
		add(events.SourceEngine, 400*time.Millisecond, stepDeadline{name})
		add(events.SourceEngine, took, events.StepCompleted{Step: name})
	}
	commit := func(i int) string {
		sum := sha256.Sum256([]byte(fmt.Sprintf("golden commitment %d", i)))
		return hex.EncodeToString(sum[:])
	}
	present := func(serial string, slot int) {
		add(events.SourceReader, 800*time.Millisecond, cardPresentedV1{Reader: goldenReader, Serial: serial, Slot: slot})
	}
	pin := func(serial string, tries int, isDefault bool) {
		add(events.SourceCard, 300*time.Millisecond, events.PINRetriesRead{Serial: serial, PIN: "PW3", TriesLeft: tries, LastTry: tries == 1})
		step("enter PIN "+serial, 6*time.Second)
		add(events.SourceCard, 700*time.Millisecond, events.PINVerified{Serial: serial, PIN: "PW3", DefaultPIN: isDefault})
	}
	remove := func(serial string) {
		step("remove card "+serial, 3*time.Second)
		add(events.SourceReader, 100*time.Millisecond, events.CardRemoved{Reader: goldenReader, Serial: serial})
	}
	write := func(serial string, index int) {
		add(events.SourceEngine, 200*time.Millisecond, events.ShareWriteRequested{Serial: serial, KeySetID: goldenKeySet, Index: index})
		add(events.SourceCard, 1500*time.Millisecond, events.ShareWritten{Serial: serial, KeySetID: goldenKeySet, Index: index})
	}

	add(events.SourceOperator, 0, events.GenerateStarted{Operator: "alice", Threshold: 2, Shares: 3, Reader: goldenReader, HSM: goldenHSM})
	step("confirm start", 9*time.Second)
	add(events.SourceOperator, 50*time.Millisecond, events.WriteConfirmed{})
	add(events.SourceEngine, 120*time.Millisecond, events.KeyGenerated{KeySetID: goldenKeySet, Threshold: 2, Shares: 3, KCV: goldenKCV,
		Commitments: []events.ShareCommitment{{Index: 1, Commitment: commit(1)}, {Index: 2, Commitment: commit(2)}, {Index: 3, Commitment: commit(3)}}})

	// Card 1: factory PIN, typed wrong once.
	step("insert card 1", 14*time.Second)
	present(goldenCard1, 1)
	add(events.SourceCard, 300*time.Millisecond, events.PINRetriesRead{Serial: goldenCard1, PIN: "PW3", TriesLeft: 3})
	step("enter PIN "+goldenCard1, 8*time.Second)
	add(events.SourceCard, 900*time.Millisecond, events.PINRejected{Serial: goldenCard1, PIN: "PW3", TriesLeft: 2})
	pin(goldenCard1, 2, true)
	write(goldenCard1, 1)
	remove(goldenCard1)

	// Card 2: the operator is away, the step times out, then retries. The
	// card held share 2 of a live set: the overwrite is confirmed.
	add(events.SourceEngine, 400*time.Millisecond, stepDeadline{"insert card 2"})
	add(events.SourceEngine, deadline+15*time.Millisecond, timedOut{"insert card 2"})
	add(events.SourceOperator, 47*time.Second, events.StepRetried{Step: "after timeout"})
	step("insert card 2", 11*time.Second)
	present(goldenCard2, 2)
	pin(goldenCard2, 3, false)
	add(events.SourceOperator, 5*time.Second, overwriteConfirmedV1{Serial: goldenCard2, PreviousKeySetID: "9d8c7b6a594837261504f3e2d1c0b0a0", PreviousIndex: 2, Live: true})
	write(goldenCard2, 2)
	remove(goldenCard2)

	// Card 3: the first write fails (card pulled), the card is refused,
	// inserted again and written. It stays in the reader for reading.
	step("insert card 3", 10*time.Second)
	present(goldenCard3, 3)
	pin(goldenCard3, 3, true)
	add(events.SourceEngine, 200*time.Millisecond, events.ShareWriteRequested{Serial: goldenCard3, KeySetID: goldenKeySet, Index: 3})
	add(events.SourceCard, 900*time.Millisecond, events.ShareWriteFailed{Serial: goldenCard3, KeySetID: goldenKeySet, Index: 3, Error: "writing share 3 failed: card removed during the write"})
	add(events.SourceEngine, 10*time.Millisecond, events.CardRefused{Serial: goldenCard3, Code: "write-failed", Message: "writing share 3 failed: card removed during the write; insert the card again or another card"})
	step("remove refused card", 2*time.Second)
	step("insert card 3", 6*time.Second)
	present(goldenCard3, 3)
	pin(goldenCard3, 3, true)
	write(goldenCard3, 3)

	// Step 2, Key Reading: card 3 (still inserted), card 3 again (refused),
	// card 1; then the key is rebuilt and loaded.
	step("confirm read", 4*time.Second)
	add(events.SourceOperator, 30*time.Millisecond, events.ReadConfirmed{})
	step("insert card 1", 2*time.Second)
	present(goldenCard3, 1)
	pin(goldenCard3, 3, true)
	add(events.SourceCard, 400*time.Millisecond, events.ShareAccepted{Serial: goldenCard3, KeySetID: goldenKeySet, Index: 3, Have: 1, Need: 2})
	remove(goldenCard3)
	step("insert card 2", 5*time.Second)
	present(goldenCard3, 2)
	add(events.SourceEngine, 20*time.Millisecond, events.CardRefused{Serial: goldenCard3, Code: "same-card", Message: "card " + goldenCard3 + " was already read (share 3): insert a different card"})
	step("remove refused card", 3*time.Second)
	step("insert card 2", 7*time.Second)
	present(goldenCard1, 2)
	pin(goldenCard1, 3, true)
	add(events.SourceCard, 400*time.Millisecond, events.ShareAccepted{Serial: goldenCard1, KeySetID: goldenKeySet, Index: 1, Have: 2, Need: 2})
	add(events.SourceEngine, 30*time.Millisecond, events.KeyReconstructed{KeySetID: goldenKeySet, KCV: goldenKCV, Indexes: []int{1, 3}})
	label := "backup-key-" + goldenKeySet[:8]
	add(events.SourceEngine, 10*time.Millisecond, events.HSMLoadRequested{HSM: goldenHSM, KeySetID: goldenKeySet, KCV: goldenKCV, Label: label})
	add(events.SourceHSM, 600*time.Millisecond, events.HSMKeyLoaded{HSM: goldenHSM, KeySetID: goldenKeySet, KCV: goldenKCV, Label: label})
	return s
}

// stepDeadline and timedOut are placeholders whose deadline the generator
// fills in from the event time (deadline_set time + 2 minutes).
type stepDeadline struct{ step string }
type timedOut struct{ step string }

func (stepDeadline) EventType() string { return "step.deadline_set" }
func (timedOut) EventType() string     { return "step.timed_out" }

// TestGoldenGenerateV1 writes the golden v1 log. Run it only to create
// the file: UPDATE_GOLDEN=1 go test ./events/ -run TestGolden
func TestGoldenGenerateV1(t *testing.T) {
	if os.Getenv("UPDATE_GOLDEN") != "1" {
		t.Skip("generator: set UPDATE_GOLDEN=1 to (re)write " + goldenV1)
	}
	base := time.Date(2025, 3, 14, 9, 30, 0, 250_000_000, time.UTC)
	now := base
	prevHash, prevID := "", ""
	var lastDeadline time.Time
	var out bytes.Buffer
	for i, st := range goldenV1Steps() {
		now = now.Add(st.after).Add(time.Duration(i*7919) * time.Microsecond % time.Second)
		body := st.body
		switch v := body.(type) {
		case stepDeadline:
			lastDeadline = now.Add(2 * time.Minute)
			body = events.StepDeadlineSet{Step: v.step, Deadline: lastDeadline}
		case timedOut:
			if now.Before(lastDeadline) {
				now = lastDeadline.Add(15 * time.Millisecond)
			}
			body = events.StepTimedOut{Step: v.step, Deadline: lastDeadline}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			t.Fatal(err)
		}
		id := sha256.Sum256([]byte(fmt.Sprintf("golden v1 event %d", i+1)))
		e := events.Envelope{
			ID:          hex.EncodeToString(id[:16]),
			CeremonyID:  goldenCeremony,
			Kind:        goldenKind,
			Type:        st.typ,
			Version:     1,
			Position:    uint64(i + 1),
			Time:        now,
			Source:      st.src,
			CausationID: prevID,
			Payload:     raw,
		}
		events.Seal(&e, prevHash)
		line, err := events.Encode(e)
		if err != nil {
			t.Fatalf("event %d (%s): %v", i+1, st.typ, err)
		}
		out.Write(line)
		out.WriteByte('\n')
		prevHash, prevID = e.Hash, e.ID
	}
	if err := os.MkdirAll(filepath.Dir(goldenV1), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(goldenV1, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s", goldenV1)
}

// readGoldenLines returns the lines of the golden v1 log; a missing file
// fails the test.
func readGoldenLines(tb testing.TB) [][]byte {
	tb.Helper()
	f, err := os.Open(goldenV1)
	if err != nil {
		tb.Fatalf("golden v1 event log: %v (it is committed; never regenerate it to make a test pass)", err)
	}
	defer f.Close()
	var lines [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, append([]byte(nil), sc.Bytes()...))
	}
	if err := sc.Err(); err != nil {
		tb.Fatal(err)
	}
	return lines
}

func TestGoldenV1Decodes(t *testing.T) {
	lines := readGoldenLines(t)
	if len(lines) < 50 {
		t.Fatalf("golden log has %d events; the committed file has more", len(lines))
	}
	reg := kinds.Registry()
	var envs []events.Envelope
	types := map[string]int{}
	var presented []*events.CardPresented
	var last events.Payload
	for i, line := range lines {
		e, err := events.Decode(line)
		if err != nil {
			t.Fatalf("line %d: Decode: %v", i+1, err)
		}
		if again, err := events.Encode(e); err != nil || !bytes.Equal(again, line) {
			t.Errorf("line %d: Encode(Decode(line)) = %s, %v; want the line byte for byte", i+1, again, err)
		}
		if e.Version != 1 || e.CeremonyID != goldenCeremony || e.Kind != goldenKind {
			t.Errorf("line %d: version %d, ceremony %q, kind %q; want a v1 event of %s (%s)", i+1, e.Version, e.CeremonyID, e.Kind, goldenCeremony, goldenKind)
		}
		p, err := reg.DecodePayload(e)
		if err != nil {
			t.Fatalf("line %d: DecodePayload(%s v%d): %v", i+1, e.Type, e.Version, err)
		}
		if cp, ok := p.(*events.CardPresented); ok {
			if bytes.Contains(e.Payload, []byte("reader_class")) {
				t.Errorf("line %d: a v1 card.presented with reader_class: %s", i+1, e.Payload)
			}
			presented = append(presented, cp)
		}
		types[e.Type]++
		envs = append(envs, e)
		last = p
	}
	if err := events.VerifyChain(envs); err != nil {
		t.Fatalf("VerifyChain: %v", err)
	}
	if len(presented) != 7 {
		t.Fatalf("%d card.presented events, want 7", len(presented))
	}
	for _, cp := range presented {
		if cp.ReaderClass != "unknown" || cp.Reader != goldenReader || cp.Serial == "" || cp.Slot < 1 {
			t.Errorf("upcast card.presented = %+v; want reader_class \"unknown\" and the stored fields", *cp)
		}
	}
	// The log holds the v1 types a generate ceremony writes; each must
	// keep decoding.
	for _, typ := range []string{
		"backupkey.generate_started", "step.deadline_set", "step.completed", "backupkey.write_confirmed",
		"backupkey.key_generated", "card.presented", "card.pin_retries_read", "card.pin_rejected",
		"card.pin_verified", "backupkey.share_write_requested", "backupkey.share_written",
		"card.removed", "step.timed_out", "step.retried", "backupkey.overwrite_confirmed",
		"backupkey.share_write_failed", "card.refused", "backupkey.read_confirmed",
		"backupkey.share_accepted", "backupkey.key_reconstructed", "hsm.load_requested", "hsm.key_loaded",
	} {
		if types[typ] == 0 {
			t.Errorf("golden log has no %s event", typ)
		}
	}
	want := &events.HSMKeyLoaded{HSM: goldenHSM, KeySetID: goldenKeySet, KCV: goldenKCV, Label: "backup-key-" + goldenKeySet[:8]}
	if got, ok := last.(*events.HSMKeyLoaded); !ok || *got != *want {
		t.Errorf("last event = %#v, want %#v", last, want)
	}
}
