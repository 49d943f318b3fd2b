package jetstream

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// rawPublish stores a as Append would, but through the raw client, as if
// the acknowledgement had been lost.
func rawPublish(t *testing.T, s *Store, a appendReq) uint64 {
	t.Helper()
	ack, err := s.js.PublishMsg(t.Context(), &nats.Msg{Subject: a.subject, Data: a.data},
		natsjs.WithMsgID(a.eventID),
		natsjs.WithExpectLastSequenceForSubject(a.expected, ceremonyFilter(a.ceremonyID)))
	if err != nil {
		t.Fatalf("raw publish of %s: %v", a.eventID, err)
	}
	return ack.Sequence
}

// request builds the checked append of the next event of c.
func request(t *testing.T, c *storetest.Chain, expected uint64) appendReq {
	t.Helper()
	id, data := c.Next(t)
	a, err := checkAppend(c.CeremonyID, id, expected, data)
	if err != nil {
		t.Fatalf("checkAppend: %v", err)
	}
	return a
}

var errLost = errors.New("simulated lost acknowledgement")

func TestLostAckOurEventIsStored(t *testing.T) {
	s := openTest(t, t.TempDir())
	a := request(t, storetest.NewChain("cer-lost"), 0)
	stored := rawPublish(t, s, a)

	seq, err := s.resolveLostAck(t.Context(), a, errLost)
	if err != nil || seq != stored {
		t.Fatalf("resolveLostAck = %d, %v; want %d, nil", seq, err, stored)
	}
	recs, err := s.Load(t.Context(), "cer-lost")
	if err != nil || len(recs) != 1 {
		t.Fatalf("Load = %d records, %v; want the event once", len(recs), err)
	}
}

func TestLostAckOurEventThenAnother(t *testing.T) {
	// Our event landed and another writer appended after it: the last
	// event is not ours, but ours is stored.
	s := openTest(t, t.TempDir())
	c := storetest.NewChain("cer-later")
	a := request(t, c, 0)
	stored := rawPublish(t, s, a)
	rawPublish(t, s, request(t, c, stored))

	seq, err := s.resolveLostAck(t.Context(), a, errLost)
	if err != nil || seq != stored {
		t.Fatalf("resolveLostAck = %d, %v; want %d, nil", seq, err, stored)
	}
}

func TestLostAckNothingStoredIsRetried(t *testing.T) {
	s := openTest(t, t.TempDir())
	a := request(t, storetest.NewChain("cer-retry"), 0)

	seq, err := s.resolveLostAck(t.Context(), a, errLost)
	if err != nil || seq == 0 {
		t.Fatalf("resolveLostAck = %d, %v; want the retried append's sequence", seq, err)
	}
	recs, err := s.Load(t.Context(), "cer-retry")
	if err != nil || len(recs) != 1 || recs[0].Seq != seq || recs[0].ID != a.eventID {
		t.Fatalf("Load = %+v, %v; want our event at %d", recs, err, seq)
	}
}

func TestLostAckAnotherEventWonIsConflict(t *testing.T) {
	s := openTest(t, t.TempDir())
	ours := request(t, storetest.NewChain("cer-lost-race"), 0)
	otherData, _ := storetest.Event(t, "cer-lost-race", "someone-else", 1, "")
	other, err := checkAppend("cer-lost-race", "someone-else", 0, otherData)
	if err != nil {
		t.Fatalf("checkAppend: %v", err)
	}
	rawPublish(t, s, other)

	_, err = s.resolveLostAck(t.Context(), ours, errLost)
	var ce *events.ConflictError
	if !errors.As(err, &ce) || ce.CeremonyID != "cer-lost-race" || ce.Expected != 0 {
		t.Fatalf("resolveLostAck = %v; want a ConflictError for cer-lost-race expected 0", err)
	}
	recs, _ := s.Load(t.Context(), "cer-lost-race")
	if len(recs) != 1 || recs[0].ID != "someone-else" {
		t.Errorf("Load = %d records; want only the other writer's event", len(recs))
	}
}

func TestLostAckCallerGaveUpIsNotRetried(t *testing.T) {
	s := openTest(t, t.TempDir())
	a := request(t, storetest.NewChain("cer-gaveup"), 0)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()

	_, err := s.resolveLostAck(ctx, a, context.Canceled)
	if !errors.Is(err, ErrOutcomeUnknown) || !errors.Is(err, context.Canceled) {
		t.Fatalf("resolveLostAck = %v; want ErrOutcomeUnknown wrapping the cause", err)
	}
	if recs, _ := s.Load(t.Context(), "cer-gaveup"); len(recs) != 0 {
		t.Errorf("Load = %d records; a cancelled append must not be retried", len(recs))
	}
}

func TestDuplicateMessageIDWithOtherContentIsRefused(t *testing.T) {
	// An event id used twice: the server deduplicates by message id, which
	// must not pass for a successful append of the second event.
	s := openTest(t, t.TempDir())
	first, _ := storetest.Event(t, "cer-dup-a", "same-id", 1, "")
	if _, err := s.Append(t.Context(), "cer-dup-a", "same-id", 0, first); err != nil {
		t.Fatalf("Append: %v", err)
	}
	second, _ := storetest.Event(t, "cer-dup-b", "same-id", 1, "")
	_, err := s.Append(t.Context(), "cer-dup-b", "same-id", 0, second)
	if err == nil || !strings.Contains(err.Error(), "already used") {
		t.Fatalf("Append of another event with a used id: %v; want refused", err)
	}
	if recs, _ := s.Load(t.Context(), "cer-dup-b"); len(recs) != 0 {
		t.Errorf("Load(cer-dup-b) = %d records, want none", len(recs))
	}
}

func TestAppendRefusesUnusableEventType(t *testing.T) {
	for _, typ := range []string{"a..b", "a.*", "a.>", "a b", ".a", "a."} {
		if err := checkEventType(typ); err == nil {
			t.Errorf("checkEventType(%q) accepted it", typ)
		}
	}
	if err := checkEventType("backupkey.share_written"); err != nil {
		t.Errorf("checkEventType(backupkey.share_written): %v", err)
	}
}

func TestLostAckErrors(t *testing.T) {
	for _, err := range []error{context.DeadlineExceeded, nats.ErrTimeout, natsjs.ErrNoStreamResponse, nats.ErrNoResponders} {
		if !lostAck(errors.Join(errors.New("publish"), err)) {
			t.Errorf("lostAck(%v) = false", err)
		}
	}
	if lostAck(natsjs.ErrKeyExists) || lostAck(nats.ErrConnectionClosed) {
		t.Error("lostAck of a definite error = true")
	}
	if !isWrongLastSequence(natsjs.ErrKeyExists) {
		t.Error("isWrongLastSequence(10071) = false")
	}
	if isWrongLastSequence(natsjs.ErrStreamNotFound) {
		t.Error("isWrongLastSequence(stream not found) = true")
	}
	// 10164: a replicated stream's "an earlier write to these subjects is
	// still being applied". Settled by reading and retrying, never taken
	// for a conflict.
	inProcess := &natsjs.APIError{Code: 400, ErrorCode: natsjs.JSErrCodeStreamWrongLastSequenceConstant, Description: "wrong last sequence"}
	if isWrongLastSequence(inProcess) || !lostAck(fmt.Errorf("publish: %w", inProcess)) {
		t.Error("10164 is taken for a conflict, or not retried")
	}
}

// TestAppendSealed: an event EncodeSealed wrote is stored as is, under its
// subject, with the expectation checked; a zero Sealed or a type that
// cannot be a subject is refused and nothing is stored.
func TestAppendSealed(t *testing.T) {
	s := openTest(t, t.TempDir())
	data, _ := storetest.Event(t, "cer-sealed", "sealed-1", 1, "")
	env, err := events.Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := events.EncodeSealed(env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendSealed(t.Context(), 0, events.Sealed{}); err == nil || !strings.Contains(err.Error(), "no event") {
		t.Errorf("AppendSealed of a zero Sealed: %v, want a refusal", err)
	}
	bad := env
	bad.Type = "a b"
	badEv, err := events.EncodeSealed(bad)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendSealed(t.Context(), 0, badEv); err == nil || !strings.Contains(err.Error(), "cannot be a subject") {
		t.Errorf("AppendSealed of type %q: %v, want a refusal", bad.Type, err)
	}
	seq, err := s.AppendSealed(t.Context(), 0, ev)
	if err != nil {
		t.Fatalf("AppendSealed: %v", err)
	}
	if _, err := s.AppendSealed(t.Context(), 0, ev); !errors.Is(err, events.ErrConflict) {
		t.Errorf("AppendSealed with a stale expectation: %v, want ErrConflict", err)
	}
	recs, err := s.Load(t.Context(), "cer-sealed")
	if err != nil || len(recs) != 1 || recs[0].Seq != seq || string(recs[0].Data) != string(data) {
		t.Fatalf("Load after AppendSealed: %d records, %v; want the one event at %d", len(recs), err, seq)
	}
	if recs[0].Type != env.Type {
		t.Errorf("stored type %q, want %q", recs[0].Type, env.Type)
	}
}
