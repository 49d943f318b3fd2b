package jetstream

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// consumerIdle is how long the server keeps a reader's consumer that was
// not deleted (the reader normally deletes it when it is done).
const consumerIdle = time.Minute

// Load returns every event of ceremonyID in order, up to its last event as
// it was when Load started. An unknown ceremony returns no records and no
// error.
func (s *Store) Load(ctx context.Context, ceremonyID string) ([]events.Record, error) {
	var recs []events.Record
	err := s.readCeremony(ctx, "load", ceremonyID, func(r events.Record) error {
		recs = append(recs, r)
		return nil
	})
	return recs, err
}

// ReadCeremony calls fn with every event of ceremonyID in order, as it is
// read, up to the ceremony's last event as it was when ReadCeremony
// started; it stops at the first error from fn (returned as is). An
// unknown ceremony calls fn never. On a stream of one replica fn runs on
// the read's own goroutine, beside the reading (readAhead). See
// events.CeremonyReader.
func (s *Store) ReadCeremony(ctx context.Context, ceremonyID string, fn func(events.Record) error) error {
	var fnErr error
	err := s.readCeremony(ctx, "read", ceremonyID, func(r events.Record) error {
		fnErr = fn(r)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	return err
}

// Replay calls fn for every event with stream sequence >= from, in stream
// order, up to the stream's last sequence as it was when Replay started.
// It stops at the first error from fn (returned as is) or the first event
// that does not decode.
func (s *Store) Replay(ctx context.Context, from uint64, fn func(events.Record) error) error {
	if err := s.usable("replay"); err != nil {
		return err
	}
	var last uint64
	err := s.retryRead(ctx, func(_, actx context.Context) error {
		var err error
		last, err = s.LastSeq(actx)
		return err
	})
	if err != nil {
		return fmt.Errorf("jetstream: replay from %d: %w", from, err)
	}
	from = max(from, 1)
	if last < from {
		return nil
	}
	var fnErr error
	next := from // resumed there if a stream leader is lost meanwhile
	err = s.retryRead(ctx, func(ctx, actx context.Context) error {
		cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: next}
		return s.read(ctx, actx, cfg, last, func(r events.Record, _ uint64) error {
			if r.Seq != next {
				return stopRead{s.skipped(next, r.Seq)}
			}
			if fnErr = fn(r); fnErr != nil {
				return stopRead{fnErr}
			}
			next = r.Seq + 1
			return nil
		})
	})
	if fnErr != nil {
		return fnErr
	}
	if errors.Is(err, ErrReplicaDamaged) {
		// The reader ran on a replica that lacks events: the rest is
		// read from the stream leader, one get each (slower, but the
		// history its quorum acknowledged).
		err = s.replayFromLeader(ctx, next, last, fn)
	}
	if err != nil {
		return fmt.Errorf("jetstream: replay from %d: %w", from, err)
	}
	return nil
}

// replayFromLeader calls fn for the events next..last, each got from the
// stream leader by its sequence (a message get, which only the leader
// answers).
func (s *Store) replayFromLeader(ctx context.Context, next, last uint64, fn func(events.Record) error) error {
	for seq := next; seq <= last; seq++ {
		var rec events.Record
		err := s.retryRead(ctx, func(_, actx context.Context) error {
			var err error
			rec, err = s.RecordAt(actx, seq)
			return err
		})
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			return fmt.Errorf("%w: the stream leader's copy of stream %s has no event %d (of 1-%d; the stream never deletes): make another replica the leader ('nats stream cluster step-down %s'), then check the replicas ('ceremony audit verify-store --nats URL --nats-system-creds FILE')",
				ErrReplicaDamaged, s.name, seq, last, s.name)
		}
		if err != nil {
			return err
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
	return nil
}

// read delivers the messages of an ordered consumer, decoded, to fn, with
// the number of messages the consumer has yet to deliver, up to stream
// sequence until (inclusive, a sequence the consumer delivers: read from
// the stream leader). A message that does not decode is an error naming
// its sequence (stopRead: not retried). actx bounds the reader's creation.
func (s *Store) read(ctx, actx context.Context, cfg natsjs.OrderedConsumerConfig, until uint64, fn func(r events.Record, pending uint64) error) error {
	cfg.InactiveThreshold = consumerIdle
	cons, err := s.stream.OrderedConsumer(actx, cfg)
	if err != nil {
		return fmt.Errorf("create reader: %w", err)
	}
	defer func() {
		if info := cons.CachedInfo(); info != nil {
			s.deleteReader(ctx, info.Name)
		}
	}()
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("start reader: %w", err)
	}
	defer it.Stop()
	var seq, pending uint64
	var dec events.Decoder
	untilDone := []natsjs.NextOpt{natsjs.NextContext(ctx)} // built once, not per message
	for {
		nctx, opts, cancel := ctx, untilDone, context.CancelFunc(func() {})
		if seq > 0 && pending == 0 && seq < until {
			// The reader's replica has nothing more, the leader has.
			nctx, cancel = context.WithTimeout(ctx, shortReadWait)
			opts = []natsjs.NextOpt{natsjs.NextContext(nctx)}
		}
		msg, err := it.Next(opts...)
		cancel()
		if err != nil && ctx.Err() == nil && nctx.Err() != nil {
			return stopRead{s.stopsShort(seq, until)}
		}
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		var ok bool
		seq, pending, ok = ackSeqs(msg.Reply())
		if !ok {
			return fmt.Errorf("read: message on %s has no JetStream acknowledgement subject (%q)", msg.Subject(), msg.Reply())
		}
		if seq > until {
			return nil
		}
		rec, err := decodeRecord(&dec, seq, msg.Subject(), msg.Data())
		if err != nil {
			return stopRead{err}
		}
		if err := fn(rec, pending); err != nil {
			return err
		}
		// Not pending == 0: on a cluster the reader's consumer may run on
		// a replica that has not yet applied what the stream leader
		// acknowledged; until (read from the leader) is always delivered.
		if seq >= until {
			return nil
		}
	}
}

// deleteReader deletes a reader's consumer now rather than after
// consumerIdle (the server keeps at most 1,000 consumers per stream by
// default), even if ctx is cancelled.
func (s *Store) deleteReader(ctx context.Context, name string) {
	_ = s.js.DeleteConsumer(context.WithoutCancel(ctx), s.name, name)
}

// ackSeqs reads the stream sequence and the pending count from the reply
// subject of a consumer's message, without allocating (nats.go's
// Metadata parses every field into a new value). The server writes one of
// two forms (nats.go's jetstream.Msg.Metadata reads the same tokens):
//
//	$JS.ACK.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>
//	$JS.ACK.<domain>.<account hash>.<stream>.<consumer>.<delivered>.<sseq>.<cseq>.<tm>.<pending>[.<token>...]
func ackSeqs(reply string) (seq, pending uint64, ok bool) {
	const prefix = "$JS.ACK."
	if len(reply) <= len(prefix) || reply[:len(prefix)] != prefix {
		return 0, 0, false
	}
	// One pass: where each of the first 11 tokens ends, and how many
	// tokens there are.
	var end [11]int
	n := 0
	for i := 0; i < len(reply); i++ {
		if reply[i] == '.' {
			if n < len(end) {
				end[n] = i
			}
			n++
		}
	}
	if n < len(end) {
		end[n] = len(reply)
	}
	n++                      // tokens: dots + 1
	seqAt, pendingAt := 5, 8 // v1, 9 tokens
	switch {
	case n == 9:
	case n >= 11:
		seqAt, pendingAt = 7, 10
	default:
		return 0, 0, false
	}
	token := func(i int) string { return reply[end[i-1]+1 : end[i]] }
	var seqOK, pendingOK bool
	seq, seqOK = parseUint(token(seqAt))
	pending, pendingOK = parseUint(token(pendingAt))
	return seq, pending, seqOK && pendingOK && seq > 0
}

// parseUint parses decimal digits (no sign) that fit in 64 bits.
func parseUint(s string) (uint64, bool) {
	if s == "" {
		return 0, false
	}
	var n uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' || n > (math.MaxUint64-uint64(c-'0'))/10 {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// decodeRecord decodes one stored message with dec (one per read, its
// messages in order: see events.Decoder) and checks that it is on the
// subject of its ceremony and type.
func decodeRecord(dec *events.Decoder, seq uint64, subject string, data []byte) (events.Record, error) {
	env, err := dec.Decode(data)
	if err != nil {
		return events.Record{}, fmt.Errorf("stream sequence %d (%s): %w", seq, subject, err)
	}
	if !isEventSubject(subject, env.CeremonyID, env.Type) {
		return events.Record{}, fmt.Errorf("stream sequence %d: stored on subject %s, but the event is of ceremony %s, type %s", seq, subject, env.CeremonyID, env.Type)
	}
	return events.Record{Seq: seq, Data: data, Envelope: env}, nil
}

// Follow calls fn for every event with stream sequence >= from, in stream
// order, and then for each new one as it is stored, until ctx is done
// (then it returns nil). An ordered consumer (no server-side state) reads
// from the last delivered sequence; it is recreated by the client after a
// reconnect or a leader change, and by Follow, from the next sequence,
// when it cannot be (re)created or fails while no stream leader answers,
// for up to readBudget at a time. See events.Follower.
func (s *Store) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	if err := s.usable("follow"); err != nil {
		return err
	}
	next := max(from, 1)
	var failingSince time.Time // zero while the reader delivers
	for {
		var it natsjs.MessagesContext
		err := s.retryRead(ctx, func(_, actx context.Context) error {
			cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: next, InactiveThreshold: consumerIdle}
			cons, err := s.stream.OrderedConsumer(actx, cfg)
			if err != nil {
				return err
			}
			it, err = cons.Messages()
			return err
		})
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jetstream: follow from %d: create reader: %w", next, err)
		}
		delivered, err := s.follow(ctx, it, &next, fn)
		it.Stop()
		var stop stopRead
		switch {
		case err == nil:
			return nil // ctx is done
		case errors.As(err, &stop):
			return stop.err
		case !lostAck(err):
			return fmt.Errorf("jetstream: follow: %w", err)
		case delivered:
			failingSince = time.Now()
		case failingSince.IsZero():
			failingSince = time.Now()
		case time.Since(failingSince) > s.readLimit():
			return fmt.Errorf("jetstream: follow: %w: %s", err, s.noLeaderReadText())
		}
		if s.readRetried != nil {
			s.readRetried(err)
		}
	}
}

// follow delivers the reader's messages to fn until ctx is done (nil) or an
// error; next is the sequence after the last one delivered. delivered
// says whether any message was.
func (s *Store) follow(ctx context.Context, it natsjs.MessagesContext, next *uint64, fn func(events.Record) error) (delivered bool, err error) {
	var dec events.Decoder
	untilDone := []natsjs.NextOpt{natsjs.NextContext(ctx)} // built once, not per message
	for {
		msg, err := it.Next(untilDone...)
		if ctx.Err() != nil {
			return delivered, nil
		}
		if err != nil {
			return delivered, err
		}
		seq, _, ok := ackSeqs(msg.Reply())
		if !ok {
			return delivered, stopRead{fmt.Errorf("jetstream: follow: message on %s has no JetStream acknowledgement subject (%q)", msg.Subject(), msg.Reply())}
		}
		if seq != *next {
			return delivered, stopRead{fmt.Errorf("jetstream: follow: %w", s.skipped(*next, seq))}
		}
		rec, err := decodeRecord(&dec, seq, msg.Subject(), msg.Data())
		if err != nil {
			return delivered, stopRead{fmt.Errorf("jetstream: follow: %w", err)}
		}
		if err := fn(rec); err != nil {
			return delivered, stopRead{err}
		}
		*next, delivered = seq+1, true
	}
}
