package jetstream

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events/storetest"
	"github.com/ceremony-hsm/ceremony/internal/benchratio"
)

// Store and raw JetStream are measured on the same server (one Store,
// SyncAlways), in the same run, with events of the same size, one
// operation of each in turn (internal/benchratio), 5 repetitions:
//
//	go test -run '^$' -bench 'Append|Replay' -benchtime 1x ./adapters/jetstream/

const (
	benchEventSize = 300  // bytes of one encoded event
	benchReplayN   = 1000 // events read by one Replay iteration
)

// benchEvents returns n valid, chained events of ceremonyID, each
// benchEventSize bytes (give or take the digits of the position).
func benchEvents(b *testing.B, ceremonyID string, n int) (ids []string, data [][]byte) {
	b.Helper()
	probe, _ := storetest.EventWithPayload(b, ceremonyID, ceremonyID+"-1", 1, "", json.RawMessage(`{"pad":""}`))
	pad := max(benchEventSize-len(probe), 0)
	payload := json.RawMessage(`{"pad":"` + strings.Repeat("x", pad) + `"}`)
	prev := ""
	for i := range n {
		id := fmt.Sprintf("%s-%d", ceremonyID, i+1)
		var d []byte
		d, prev = storetest.EventWithPayload(b, ceremonyID, id, uint64(i+1), prev, payload)
		ids, data = append(ids, id), append(data, d)
	}
	return ids, data
}

const benchReps = 5

// BenchmarkAppend: one Store.Append (refuses malformed events, publishes
// with expectation and message id) against one raw publish of the same
// event, one of each in turn.
func BenchmarkAppend(b *testing.B) {
	s := openTest(b, b.TempDir())
	const rounds = 400
	for range b.N {
		n := benchReps * rounds
		ids, data := benchEvents(b, "bench-store", n)
		rawIDs, rawData := benchEvents(b, "bench-raw", n)
		subject, filter := eventSubject("bench-raw", storetest.TestType), ceremonyFilter("bench-raw")
		var storeLast, rawLast uint64
		k, rk := 0, 0
		benchratio.Run(b, benchReps, rounds, "appends/s", benchratio.Pair{
			Name: "store",
			Subject: func(int) (int, error) {
				seq, err := s.Append(b.Context(), "bench-store", ids[k], storeLast, data[k])
				storeLast, k = seq, k+1
				return 1, err
			},
			Baseline: func(int) (int, error) {
				ack, err := s.js.PublishMsg(b.Context(), &nats.Msg{Subject: subject, Data: rawData[rk]},
					natsjs.WithExpectStream(s.name),
					natsjs.WithMsgID(rawIDs[rk]),
					natsjs.WithExpectLastSequenceForSubject(rawLast, filter))
				if err != nil {
					return 0, err
				}
				rawLast, rk = ack.Sequence, rk+1
				return 1, nil
			},
		})
	}
}

// BenchmarkReplay: Store.Load of 1,000 events (envelopes decoded, hashes
// checked) against a reader of the same messages, created as Load
// creates it on a stream of one replica.
func BenchmarkReplay(b *testing.B) {
	s := openTest(b, b.TempDir())
	const cid = "bench-replay"
	ids, data := benchEvents(b, cid, benchReplayN)
	var last uint64
	for i := range ids {
		seq, err := s.Append(b.Context(), cid, ids[i], last, data[i])
		if err != nil {
			b.Fatalf("Append %d: %v", i, err)
		}
		last = seq
	}
	for range b.N {
		benchratio.Run(b, benchReps, 40, "events/s", benchratio.Pair{
			Name: "store",
			Subject: func(int) (int, error) {
				recs, err := s.Load(b.Context(), cid)
				if err == nil && len(recs) != benchReplayN {
					err = fmt.Errorf("Load = %d records, want %d", len(recs), benchReplayN)
				}
				return benchReplayN, err
			},
			Baseline: func(int) (int, error) {
				// As Load reads on a stream of one replica (readOnOneServer).
				cons, err := s.stream.CreateConsumer(b.Context(), readerConfig(ceremonyFilter(cid), 1))
				if err != nil {
					return 0, err
				}
				it, err := cons.Messages(natsjs.StopAfter(benchReplayN))
				if err != nil {
					return 0, err
				}
				for i := range benchReplayN {
					if _, err := it.Next(natsjs.NextContext(b.Context())); err != nil {
						return 0, fmt.Errorf("message %d: %w", i, err)
					}
				}
				it.Stop()
				// As Load does: the server keeps at most 1000 consumers per
				// stream by default.
				return benchReplayN, s.js.DeleteConsumer(b.Context(), s.name, cons.CachedInfo().Name)
			},
		})
	}
}

// BenchmarkOpen: Open and Close of an embedded store of benchOpenN
// events, and the part of it that is the check of the files on a copy
// (precheck: copy, trial start, read of the whole stream):
//
//	go test -run '^$' -bench Open -benchtime 5x ./adapters/jetstream/
func BenchmarkOpen(b *testing.B) {
	const benchOpenN = 5000
	dir := b.TempDir()
	s, err := Open(b.Context(), Config{DataDir: dir, Sync: SyncRelaxed})
	if err != nil {
		b.Fatal(err)
	}
	ids, data := benchEvents(b, "bench-open", benchOpenN)
	var last uint64
	for i := range ids {
		if last, err = s.Append(b.Context(), "bench-open", ids[i], last, data[i]); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	var check time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		if err := precheck(b.Context(), Config{DataDir: dir}); err != nil {
			b.Fatal(err)
		}
		check += time.Since(start)
		s, err := Open(b.Context(), Config{DataDir: dir})
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(check.Milliseconds())/float64(b.N), "precheck-ms/op")
}
