package jetstream

import (
	"context"
	"errors"
	"fmt"

	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
)

// directReads is the most events of a ceremony that readCeremony asks
// for one request each (see there).
const directReads = 64

// readCeremony reads one ceremony's events (op names the caller in
// errors), up to its last event as the stream leader knew it when the
// read began. On a stream of one replica that server is the leader
// (readOnOneServer); on a cluster the bounds and every get are asked of
// the stream leader, so a replica that has not yet applied what the
// leader acknowledged is never read.
func (s *Store) readCeremony(ctx context.Context, op, ceremonyID string, fn func(r events.Record) error) error {
	if err := s.usable(op); err != nil {
		return err
	}
	if err := checkCeremonyID(op, ceremonyID); err != nil {
		return err
	}
	filter := ceremonyFilter(ceremonyID)
	if s.replicas == 1 {
		if err := s.readOnOneServer(ctx, ceremonyID, filter, fn); err != nil {
			return fmt.Errorf("jetstream: %s ceremony %s: %w", op, ceremonyID, err)
		}
		return nil
	}
	var until, count uint64
	found := true
	err := s.retryRead(ctx, func(_, actx context.Context) error {
		last, err := s.stream.GetLastMsgForSubject(actx, filter)
		if errors.Is(err, natsjs.ErrMsgNotFound) {
			found = false
			return nil
		}
		if err != nil {
			return err
		}
		until = last.Sequence
		if r, err := decodeRecord(new(events.Decoder), last.Sequence, last.Subject, last.Data); err == nil {
			count = uint64(r.Position) // the ceremony's number of events
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jetstream: %s ceremony %s: read its last event: %w", op, ceremonyID, err)
	}
	if !found {
		return nil
	}
	// A ceremony of up to directReads events is asked of the stream
	// leader one event at a time, by the next sequence and the ceremony's
	// subject filter: each get ends at the next match, and the last at
	// until. An ordered consumer, after the ceremony's last event, goes on
	// scanning for the next match block by block to the stream's end (the
	// per-subject index is not used for a wildcard filter on a stream of
	// many subjects), which grows with history. A request per event costs
	// a round trip per event, though (a rebuild of a long ceremony ran at
	// a tenth of the stream's speed): a longer ceremony is read by an
	// ordered consumer, stopped at until. From sequence 1 (a read from the
	// start) the server finds the ceremony's first event through its
	// per-subject index, as a get from sequence 1 would (nats-server
	// fileStore.LoadNextMsg skips ahead when the start is at or before the
	// stream's first sequence), without the get's round trip. Resumed
	// after the last event delivered if a stream leader is lost meanwhile
	// (retryRead).
	next, pos := uint64(1), uint64(1)
	var dec events.Decoder // the gets' (the reader has its own)
	deliver := func(r events.Record, fromReader bool) error {
		if err := ofCeremony(r, ceremonyID); err != nil {
			return err
		}
		if fromReader && uint64(r.Position) != pos {
			// A reader on a replica that lost events (README.md,
			// "Running on a NATS cluster"): the rest is asked of the
			// leader, whose answer is the history as stored (the
			// engine judges its chain).
			return fmt.Errorf("%w: the copy of stream %s on %s skips from event %d to %d of ceremony %s", ErrReplicaDamaged, s.name, s.serverName(), pos, r.Position, ceremonyID)
		}
		if err := fn(r); err != nil {
			return stopRead{err}
		}
		next, pos = r.Seq+1, uint64(r.Position)+1
		return nil
	}
	gets := func(actx context.Context, all bool) error {
		for next <= until && (all || count <= directReads) {
			msg, err := s.stream.GetMsg(actx, next, natsjs.WithGetMsgSubject(filter))
			if err != nil {
				return fmt.Errorf("read from sequence %d: %w", next, err)
			}
			if msg.Sequence > until || msg.Sequence < next {
				return stopRead{fmt.Errorf("read from sequence %d: the stream answered with sequence %d, outside %d-%d", next, msg.Sequence, next, until)}
			}
			r, err := decodeRecord(&dec, msg.Sequence, msg.Subject, msg.Data)
			if err != nil {
				return stopRead{err}
			}
			if err := deliver(r, false); err != nil {
				return err
			}
		}
		return nil
	}
	err = s.retryRead(ctx, func(ctx, actx context.Context) error {
		if err := gets(actx, false); err != nil || next > until {
			return err
		}
		cfg := natsjs.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: next}
		return s.read(ctx, actx, cfg, until, func(r events.Record, _ uint64) error { return deliver(r, true) })
	})
	if errors.Is(err, ErrReplicaDamaged) && next <= until {
		// The reader ran on a replica that lacks events: the rest is
		// asked of the stream leader, one get each.
		err = s.retryRead(ctx, func(_, actx context.Context) error { return gets(actx, true) })
	}
	if err != nil {
		return fmt.Errorf("jetstream: %s ceremony %s: %w", op, ceremonyID, err)
	}
	return nil
}

// readOnOneServer is readCeremony on a stream of one replica (the
// embedded server's, or an R1 stream on a cluster), whose one server is
// its leader. The reader, created there, counts the ceremony's events
// from next on (its pending count at creation, which the server takes
// from its per-subject index) and asks for exactly that many: nats.go's
// StopAfter caps its pull requests, so the server never scans on past the
// ceremony's last event. No request for the last event and no get per
// event, as on a cluster, where a reader may run on a replica behind the
// leader. From sequence 1 the server finds the first event through the
// same index (fileStore.LoadNextMsg skips ahead when the start is at or
// before the stream's first sequence). The events are decoded and
// delivered as stored, beside the reading (readAhead); the engine judges
// their chain. Resumed after the last event delivered if the server is
// lost meanwhile (retryRead).
func (s *Store) readOnOneServer(ctx context.Context, ceremonyID, filter string, fn func(r events.Record) error) error {
	next := uint64(1)
	return s.retryRead(ctx, func(ctx, actx context.Context) error {
		cons, err := s.stream.CreateConsumer(actx, readerConfig(filter, next))
		if err != nil {
			return fmt.Errorf("create reader: %w", err)
		}
		info := cons.CachedInfo()
		defer s.deleteReader(ctx, info.Name)
		n := info.NumPending
		if n == 0 {
			return nil
		}
		it, err := cons.Messages(natsjs.StopAfter(n))
		if err != nil {
			return fmt.Errorf("start reader: %w", err)
		}
		defer it.Stop()
		at := next // the next sequence to read; next is the worker's until finish
		ahead := startReadAhead(func(r events.Record) error {
			if err := ofCeremony(r, ceremonyID); err != nil {
				return err
			}
			if err := fn(r); err != nil {
				return stopRead{err}
			}
			next = r.Seq + 1
			return nil
		})
		batch := make([]pulled, 0, readAheadBatch)
		var readErr error
		untilDone := []natsjs.NextOpt{natsjs.NextContext(ctx)} // built once, not per message
		for range n {
			if ahead.stopped.Load() {
				break
			}
			msg, err := it.Next(untilDone...)
			if err != nil {
				readErr = fmt.Errorf("read from sequence %d: %w", at, err)
				break
			}
			seq, _, ok := ackSeqs(msg.Reply())
			if !ok {
				readErr = fmt.Errorf("read: message on %s has no JetStream acknowledgement subject (%q)", msg.Subject(), msg.Reply())
				break
			}
			at = seq + 1
			batch = append(batch, pulled{seq: seq, subject: msg.Subject(), data: msg.Data()})
			if len(batch) == readAheadBatch {
				ahead.send(batch)
				batch = make([]pulled, 0, readAheadBatch)
			}
		}
		// What was read before a failure is delivered: a retry resumes
		// after it.
		if err := ahead.finish(batch); err != nil {
			return err
		}
		return readErr
	})
}

// ofCeremony refuses (stopRead: not retried) a record that a read of
// ceremonyID's subjects returned for another ceremony.
func ofCeremony(r events.Record, ceremonyID string) error {
	if r.CeremonyID != ceremonyID {
		return stopRead{fmt.Errorf("stream sequence %d holds an event of ceremony %s", r.Seq, r.CeremonyID)}
	}
	return nil
}

// readerConfig is the server side of a reader that readOnOneServer
// creates: what nats.go's ordered consumer creates (no acknowledgements,
// in memory, one replica), from sequence start, on the subjects of filter.
func readerConfig(filter string, start uint64) natsjs.ConsumerConfig {
	return natsjs.ConsumerConfig{
		FilterSubject: filter,
		DeliverPolicy: natsjs.DeliverByStartSequencePolicy,
		OptStartSeq:   start,
		AckPolicy:     natsjs.AckNonePolicy,
		MemoryStorage: true,
		Replicas:      1,
		// Deleted when the read ends; the server deletes a reader whose
		// client went away after this long.
		InactiveThreshold: consumerIdle,
	}
}
