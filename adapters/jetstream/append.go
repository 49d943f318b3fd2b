package jetstream

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// resolveTimeout bounds the reads that resolve a lost acknowledgement.
const resolveTimeout = 5 * time.Second

// appendReq is one checked append.
type appendReq struct {
	ceremonyID string
	eventID    string
	expected   uint64
	subject    string
	data       []byte
}

func (a appendReq) conflict() error {
	return &events.ConflictError{CeremonyID: a.ceremonyID, Expected: a.expected}
}

func (a appendReq) errorf(format string, args ...any) error {
	return fmt.Errorf("jetstream: append ceremony %s event %s: "+format, append([]any{a.ceremonyID, a.eventID}, args...)...)
}

// Append stores data if the ceremony's last event has stream sequence
// expected (0: none). See events.Store and the package doc.
func (s *Store) Append(ctx context.Context, ceremonyID, eventID string, expected uint64, data []byte) (uint64, error) {
	if err := s.usable("append"); err != nil {
		return 0, err
	}
	a, err := checkAppend(ceremonyID, eventID, expected, data)
	if err != nil {
		return 0, err
	}
	return s.append(ctx, a)
}

// AppendSealed is Append of an event events.EncodeSealed checked and
// wrote, taken without decoding it again. See events.SealedAppender.
func (s *Store) AppendSealed(ctx context.Context, expected uint64, ev events.Sealed) (uint64, error) {
	if err := s.usable("append"); err != nil {
		return 0, err
	}
	a, err := checkSealed(expected, ev)
	if err != nil {
		return 0, err
	}
	return s.append(ctx, a)
}

// append publishes a checked append and settles a lost acknowledgement.
func (s *Store) append(ctx context.Context, a appendReq) (uint64, error) {
	if err := ctx.Err(); err != nil {
		return 0, a.errorf("not sent: %w", err)
	}
	seq, err := s.publish(ctx, a)
	if err != nil && lostAck(err) {
		return s.resolveLostAck(ctx, a, err)
	}
	return seq, err
}

// checkAppend decodes data, which refuses malformed events before they are
// stored, and checks that it is the event the caller named.
func checkAppend(ceremonyID, eventID string, expected uint64, data []byte) (appendReq, error) {
	if err := checkCeremonyID("append", ceremonyID); err != nil {
		return appendReq{}, err
	}
	a := appendReq{ceremonyID: ceremonyID, eventID: eventID, expected: expected, data: data}
	env, err := events.Decode(data)
	if err != nil {
		return appendReq{}, a.errorf("refused: %w", err)
	}
	if env.CeremonyID != ceremonyID {
		return appendReq{}, a.errorf("refused: the event belongs to ceremony %q", env.CeremonyID)
	}
	if env.ID != eventID {
		return appendReq{}, a.errorf("refused: the event's id is %q", env.ID)
	}
	if err := checkEventType(env.Type); err != nil {
		return appendReq{}, a.errorf("refused: %w", err)
	}
	a.subject = eventSubject(ceremonyID, env.Type)
	return a, nil
}

// checkSealed checks what a store adds to Encode's checks: the ceremony id
// and the type make a subject.
func checkSealed(expected uint64, ev events.Sealed) (appendReq, error) {
	if len(ev.Bytes()) == 0 {
		return appendReq{}, fmt.Errorf("jetstream: append refused: no event (a Sealed is made by events.EncodeSealed)")
	}
	if err := checkCeremonyID("append", ev.CeremonyID()); err != nil {
		return appendReq{}, err
	}
	a := appendReq{ceremonyID: ev.CeremonyID(), eventID: ev.ID(), expected: expected, data: ev.Bytes()}
	if err := checkEventType(ev.Type()); err != nil {
		return appendReq{}, a.errorf("refused: %w", err)
	}
	a.subject = eventSubject(a.ceremonyID, ev.Type())
	return a, nil
}

// publish sends one append with the expectation and the event id as
// message id. A stale expectation is an *events.ConflictError.
func (s *Store) publish(ctx context.Context, a appendReq) (uint64, error) {
	ack, err := s.js.PublishMsg(ctx, &nats.Msg{Subject: a.subject, Data: a.data},
		natsjs.WithExpectStream(s.name),
		natsjs.WithMsgID(a.eventID),
		natsjs.WithExpectLastSequenceForSubject(a.expected, ceremonyFilter(a.ceremonyID)),
	)
	if err != nil {
		if isWrongLastSequence(err) {
			return 0, a.conflict()
		}
		return 0, a.errorf("publish: %w", err)
	}
	if ack.Duplicate {
		// The server knew the message id. Success only if the stored
		// message is this very event.
		return s.checkDuplicate(ctx, a, ack.Sequence)
	}
	return ack.Sequence, nil
}

// isWrongLastSequence reports a stale expectation. jetstream.ErrKeyExists
// also matches 10071, so the code is compared instead.
func isWrongLastSequence(err error) bool {
	var apiErr *natsjs.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	return apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant
}

// lostAck reports a publish whose outcome is unknown: it may or may not
// have been stored.
func lostAck(err error) bool {
	for _, target := range []error{
		context.DeadlineExceeded,
		context.Canceled,
		nats.ErrTimeout,
		nats.ErrNoResponders,
		natsjs.ErrNoStreamResponse,
		nats.ErrDisconnected,
		nats.ErrConnectionReconnecting,
	} {
		if errors.Is(err, target) {
			return true
		}
	}
	return false
}

// checkDuplicate accepts a duplicate acknowledgement only for our own
// event: same subject, message id and bytes.
func (s *Store) checkDuplicate(ctx context.Context, a appendReq, seq uint64) (uint64, error) {
	msg, err := s.stream.GetMsg(ctx, seq)
	if err != nil {
		return 0, a.errorf("duplicate of stream sequence %d, which cannot be read: %w", seq, err)
	}
	ours, err := isOurs(a, msg)
	if err != nil {
		return 0, err
	}
	if !ours {
		return 0, a.errorf("duplicate of stream sequence %d, which is event %q", seq, msg.Header.Get(natsjs.MsgIDHeader))
	}
	return seq, nil
}

// isOurs reports whether msg is the event of a. The same event id with
// other content is an error: an event id was used twice.
func isOurs(a appendReq, msg *natsjs.RawStreamMsg) (bool, error) {
	if msg.Header.Get(natsjs.MsgIDHeader) != a.eventID {
		return false, nil
	}
	if msg.Subject != a.subject || !bytes.Equal(msg.Data, a.data) {
		return false, a.errorf("refused: event id already used by stream sequence %d (%s) with other content", msg.Sequence, msg.Subject)
	}
	return true, nil
}

// outcome is what the store holds after an append whose ack was lost.
type outcome int

const (
	notStored   outcome = iota // nothing after the expected sequence
	storedOurs                 // our event follows the expected sequence
	storedOther                // another event follows it: we lost
)

// lookup reads the ceremony's first event after the expected sequence. If
// our publish was stored, its expectation held, so it is exactly that event.
// (The ceremony's last event is not enough: another writer may have
// appended after ours.)
func (s *Store) lookup(ctx context.Context, a appendReq) (uint64, outcome, error) {
	msg, err := s.stream.GetMsg(ctx, a.expected+1, natsjs.WithGetMsgSubject(ceremonyFilter(a.ceremonyID)))
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return 0, notStored, nil
	}
	if err != nil {
		return 0, notStored, fmt.Errorf("read the event after sequence %d: %w", a.expected, err)
	}
	ours, err := isOurs(a, msg)
	switch {
	case err != nil:
		return 0, notStored, err
	case ours:
		return msg.Sequence, storedOurs, nil
	default:
		return 0, storedOther, nil
	}
}

// resolveLostAck settles an append whose acknowledgement was lost (cause):
// our event is stored (success with its sequence), another event took the
// place (conflict), or nothing is stored, and then the publish is retried
// once with the same expectation. The server checks the expectation before
// the message id, so a retry of a stored event reports a conflict: the
// store is read again after a conflict. If the caller's context is done,
// nothing is retried.
func (s *Store) resolveLostAck(ctx context.Context, a appendReq, cause error) (uint64, error) {
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), resolveTimeout)
	defer cancel()

	seq, out, err := s.lookup(rctx, a)
	if err != nil {
		return 0, a.errorf("%w (%w); resolving it failed: %w", ErrOutcomeUnknown, cause, err)
	}
	switch out {
	case storedOurs:
		return seq, nil
	case storedOther:
		return 0, a.conflict()
	}
	if ctx.Err() != nil {
		return 0, a.errorf("%w (%w); not stored as of now, not retried: reload before deciding again", ErrOutcomeUnknown, cause)
	}

	seq, retryErr := s.publish(ctx, a)
	if retryErr == nil {
		return seq, nil
	}
	conflict := errors.Is(retryErr, events.ErrConflict)
	if !conflict && !lostAck(retryErr) {
		return 0, retryErr
	}
	seq, out, err = s.lookup(rctx, a)
	switch {
	case err != nil:
		return 0, a.errorf("%w (%w, then %w); resolving it failed: %w", ErrOutcomeUnknown, cause, retryErr, err)
	case out == storedOurs:
		return seq, nil
	case out == storedOther || conflict:
		return 0, a.conflict()
	default:
		return 0, a.errorf("%w (%w, then %w); not stored as of now: reload before deciding again", ErrOutcomeUnknown, cause, retryErr)
	}
}
