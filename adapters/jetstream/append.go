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

// Time limits of one Append (README.md, "Running on a NATS cluster"). A
// publish waits at most attemptTimeout for its acknowledgement. While no
// stream leader answers (an election after a node was lost, or a cluster
// without quorum) the same publish, with the same message id and
// expectation, is retried every retryPause until appendBudget has passed
// since Append began; then Append fails saying so. An election after a
// server's orderly shutdown takes well under appendBudget; one after a
// crash takes the raft election timeout (4-9 s in nats-server) and may
// outlast it: the ceremony is then resumed.
// errCodeDuplicateInProcess is JetStream's "duplicate message id is in
// process" (nats-server JSStreamDuplicateMessageConflict).
const errCodeDuplicateInProcess = 10158

const (
	attemptTimeout = 2 * time.Second
	appendBudget   = 4 * time.Second
	retryPause     = 100 * time.Millisecond
	// inProcessPause is the pause after a 10164 (isSubjectInProcess): the
	// leader is applying the ceremony's previous write, which takes
	// milliseconds, not an election.
	inProcessPause = 5 * time.Millisecond
)

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
	deadline := time.Now().Add(appendBudget)
	seq, err := s.publishBy(ctx, a, deadline)
	if err != nil && !errors.Is(err, events.ErrConflict) {
		if serr := s.storageError(a.ceremonyID, err); serr != nil {
			return 0, serr
		}
	}
	if err != nil && lostAck(err) {
		return s.resolve(ctx, a, err, deadline)
	}
	return seq, err
}

// publishBy is publish waiting at most attemptTimeout, and not past
// deadline, for the acknowledgement.
func (s *Store) publishBy(ctx context.Context, a appendReq, deadline time.Time) (uint64, error) {
	actx, cancel := context.WithDeadline(ctx, minTime(deadline, time.Now().Add(attemptTimeout)))
	defer cancel()
	return s.publish(actx, a)
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
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

// isWrongLastSequence reports a stale expectation (10071, which names the
// sequence the stream holds). jetstream.ErrKeyExists also matches 10071,
// so the code is compared instead.
func isWrongLastSequence(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequence
}

// isSubjectInProcess reports 10164, "wrong last sequence" without a
// sequence: on a replicated stream the leader answers it while an earlier
// write to the ceremony's subjects is still being applied, which includes
// the moment just after that write was acknowledged (the leader acks
// before it clears its in-process mark; nats-server
// jetstream_batching.go). It says nothing about the expectation: the
// outcome is settled by reading the stream and retrying (resolve).
func isSubjectInProcess(err error) bool {
	var apiErr *natsjs.APIError
	return errors.As(err, &apiErr) && apiErr.ErrorCode == natsjs.JSErrCodeStreamWrongLastSequenceConstant
}

// lostAck reports a publish whose outcome is unknown: it may or may not
// have been stored. It includes a cluster's "no leader" answers: no
// responders on the stream's subjects, JetStream's 503 (the cluster is
// not available), 10158 (a publish with this message id is still being
// replicated: the leader cannot reach a quorum yet) and 10164 (an
// earlier write to the ceremony's subjects is still being applied).
func lostAck(err error) bool {
	var apiErr *natsjs.APIError
	if errors.As(err, &apiErr) && (apiErr.Code == 503 || apiErr.ErrorCode == errCodeDuplicateInProcess) {
		return true
	}
	if isSubjectInProcess(err) {
		return true
	}
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

// resolveLostAck settles an append whose acknowledgement was lost (cause),
// within appendBudget from now. See resolve.
func (s *Store) resolveLostAck(ctx context.Context, a appendReq, cause error) (uint64, error) {
	return s.resolve(ctx, a, cause, time.Now().Add(appendBudget))
}

// resolve settles an append whose acknowledgement was lost (cause): our
// event is stored (success with its sequence), another event took the
// place (conflict), or nothing is stored, and then the publish is retried
// with the same message id and expectation. The server checks the
// expectation before the message id, so a retry of a stored event reports
// a conflict: the store is read again after a conflict. While the store
// cannot be read or written for want of a stream leader, it tries again
// until deadline, then fails wrapping ErrOutcomeUnknown and saying that
// the cluster has no quorum. If the caller's context is done, nothing is
// retried.
func (s *Store) resolve(ctx context.Context, a appendReq, cause error, deadline time.Time) (uint64, error) {
	last, conflicted := cause, false
	for {
		rctx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
		seq, out, err := s.lookup(rctx, a)
		cancel()
		switch {
		case err != nil && !lostAck(err):
			return 0, a.errorf("%w (%w); resolving it failed: %w", ErrOutcomeUnknown, cause, err)
		case err != nil:
			last = err
		case out == storedOurs:
			return seq, nil
		case out == storedOther || conflicted:
			return 0, a.conflict()
		case ctx.Err() != nil:
			return 0, a.errorf("%w (%w); not stored as of now, not retried: reload before deciding again", ErrOutcomeUnknown, cause)
		default:
			seq, err := s.publishBy(ctx, a, deadline)
			switch {
			case err == nil:
				return seq, nil
			case errors.Is(err, events.ErrConflict):
				conflicted = true
				continue // read again: the conflict may be our own earlier publish
			case !lostAck(err):
				return 0, err
			}
			last = err
		}
		pause := retryPause
		if isSubjectInProcess(last) {
			pause = inProcessPause
		}
		if time.Until(deadline) < pause || ctx.Err() != nil {
			return 0, a.errorf("%w: %s (%w); nothing is recorded as of now, and the event is stored at most once: resume the ceremony when the cluster is back",
				ErrOutcomeUnknown, s.noLeaderText(), last)
		}
		time.Sleep(pause)
	}
}

// noLeaderText says why no stream leader answers.
func (s *Store) noLeaderText() string {
	if s.replicas > 1 {
		return fmt.Sprintf("the cluster has no quorum for stream %s: no stream leader answered within %s (more than half of its %d replicas must be up; a leader election after a crash can also take this long)",
			s.name, appendBudget, s.replicas)
	}
	return fmt.Sprintf("no server answered for stream %s within %s (is it running and reachable?)", s.name, appendBudget)
}
