package jetstream

import (
	"context"
	"errors"
	"fmt"
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
	if err := s.usable("load"); err != nil {
		return nil, err
	}
	if err := checkCeremonyID("load", ceremonyID); err != nil {
		return nil, err
	}
	filter := ceremonyFilter(ceremonyID)
	last, err := s.stream.GetLastMsgForSubject(ctx, filter)
	if errors.Is(err, natsjs.ErrMsgNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream: load ceremony %s: read its last event: %w", ceremonyID, err)
	}
	var recs []events.Record
	cfg := natsjs.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: natsjs.DeliverAllPolicy}
	err = s.read(ctx, cfg, last.Sequence, func(r events.Record, pending uint64) error {
		if r.CeremonyID != ceremonyID {
			return fmt.Errorf("stream sequence %d holds an event of ceremony %s", r.Seq, r.CeremonyID)
		}
		if recs == nil {
			recs = make([]events.Record, 0, min(pending+1, 1<<16))
		}
		recs = append(recs, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("jetstream: load ceremony %s: %w", ceremonyID, err)
	}
	return recs, nil
}

// Replay calls fn for every event with stream sequence >= from, in stream
// order, up to the stream's last sequence as it was when Replay started.
// It stops at the first error from fn (returned as is) or the first event
// that does not decode.
func (s *Store) Replay(ctx context.Context, from uint64, fn func(events.Record) error) error {
	if err := s.usable("replay"); err != nil {
		return err
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		return fmt.Errorf("jetstream: replay from %d: %w", from, err)
	}
	from = max(from, 1)
	if last < from {
		return nil
	}
	cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: from}
	var fnErr error
	err = s.read(ctx, cfg, last, func(r events.Record, _ uint64) error {
		fnErr = fn(r)
		return fnErr
	})
	if fnErr != nil {
		return fnErr
	}
	if err != nil {
		return fmt.Errorf("jetstream: replay from %d: %w", from, err)
	}
	return nil
}

// read delivers the messages of an ordered consumer, decoded, to fn, up to
// stream sequence until (inclusive, a sequence the consumer delivers), with
// the number of messages the consumer has yet to deliver. A message that does not decode is an error
// naming its sequence.
func (s *Store) read(ctx context.Context, cfg natsjs.OrderedConsumerConfig, until uint64, fn func(r events.Record, pending uint64) error) error {
	cfg.InactiveThreshold = consumerIdle
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("create reader: %w", err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("start reader: %w", err)
	}
	defer func() {
		it.Stop()
		// Delete the server side now rather than after consumerIdle.
		if info := cons.CachedInfo(); info != nil {
			_ = s.js.DeleteConsumer(context.WithoutCancel(ctx), s.name, info.Name)
		}
	}()
	for {
		msg, err := it.Next(natsjs.NextContext(ctx))
		if err != nil {
			return fmt.Errorf("read: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("read message metadata: %w", err)
		}
		seq := meta.Sequence.Stream
		if seq > until {
			return nil
		}
		rec, err := decodeRecord(seq, msg.Subject(), msg.Data())
		if err != nil {
			return err
		}
		if err := fn(rec, meta.NumPending); err != nil {
			return err
		}
		// Not NumPending == 0: on a cluster the reader's consumer may run
		// on a replica that has not yet applied what the stream leader
		// acknowledged; until (read from the leader) is always delivered.
		if seq >= until {
			return nil
		}
	}
}

// decodeRecord decodes one stored message and checks that it is on the
// subject of its ceremony and type.
func decodeRecord(seq uint64, subject string, data []byte) (events.Record, error) {
	env, err := events.Decode(data)
	if err != nil {
		return events.Record{}, fmt.Errorf("stream sequence %d (%s): %w", seq, subject, err)
	}
	if want := eventSubject(env.CeremonyID, env.Type); subject != want {
		return events.Record{}, fmt.Errorf("stream sequence %d: stored on subject %s, but the event is of ceremony %s, type %s", seq, subject, env.CeremonyID, env.Type)
	}
	return events.Record{Seq: seq, Data: data, Envelope: env}, nil
}

// Follow calls fn for every event with stream sequence >= from, in stream
// order, and then for each new one as it is stored, until ctx is done
// (then it returns nil). An ordered consumer (no server-side state) reads
// from the last delivered sequence; it is recreated by the client after a
// reconnect or a leader change. See events.Follower.
func (s *Store) Follow(ctx context.Context, from uint64, fn func(events.Record) error) error {
	if err := s.usable("follow"); err != nil {
		return err
	}
	cfg := natsjs.OrderedConsumerConfig{DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: max(from, 1), InactiveThreshold: consumerIdle}
	cons, err := s.stream.OrderedConsumer(ctx, cfg)
	if err != nil {
		return fmt.Errorf("jetstream: follow from %d: create reader: %w", from, err)
	}
	it, err := cons.Messages()
	if err != nil {
		return fmt.Errorf("jetstream: follow from %d: start reader: %w", from, err)
	}
	defer it.Stop()
	for {
		msg, err := it.Next(natsjs.NextContext(ctx))
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			return fmt.Errorf("jetstream: follow: %w", err)
		}
		meta, err := msg.Metadata()
		if err != nil {
			return fmt.Errorf("jetstream: follow: message metadata: %w", err)
		}
		rec, err := decodeRecord(meta.Sequence.Stream, msg.Subject(), msg.Data())
		if err != nil {
			return fmt.Errorf("jetstream: follow: %w", err)
		}
		if err := fn(rec); err != nil {
			return err
		}
	}
}
