package jetstream

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// Store and raw JetStream are measured on the same server (one Store,
// SyncAlways), in the same run, with events of the same size.
//
//	go test -run=^$ -bench=. -benchtime=2000x ./adapters/jetstream/

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

func reportRate(b *testing.B, events int, unit string) {
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), unit)
}

func BenchmarkAppend(b *testing.B) {
	s := openTest(b, b.TempDir())
	run := 0 // each sub-benchmark run appends to a new ceremony

	b.Run("store", func(b *testing.B) {
		run++
		cid := fmt.Sprintf("bench-store-%d", run)
		ids, data := benchEvents(b, cid, b.N)
		b.SetBytes(int64(len(data[0])))
		b.ResetTimer()
		var last uint64
		for i := range b.N {
			seq, err := s.Append(b.Context(), cid, ids[i], last, data[i])
			if err != nil {
				b.Fatalf("Append %d: %v", i, err)
			}
			last = seq
		}
		reportRate(b, b.N, "appends/s")
	})

	b.Run("raw", func(b *testing.B) {
		run++
		cid := fmt.Sprintf("bench-raw-%d", run)
		ids, data := benchEvents(b, cid, b.N)
		subject, filter := eventSubject(cid, storetest.TestType), ceremonyFilter(cid)
		b.SetBytes(int64(len(data[0])))
		b.ResetTimer()
		var last uint64
		for i := range b.N {
			ack, err := s.js.PublishMsg(b.Context(), &nats.Msg{Subject: subject, Data: data[i]},
				natsjs.WithExpectStream(s.name),
				natsjs.WithMsgID(ids[i]),
				natsjs.WithExpectLastSequenceForSubject(last, filter))
			if err != nil {
				b.Fatalf("publish %d: %v", i, err)
			}
			last = ack.Sequence
		}
		reportRate(b, b.N, "appends/s")
	})
}

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
	name := fmt.Sprintf("-%d", benchReplayN)

	b.Run("store"+name, func(b *testing.B) {
		for b.Loop() {
			recs, err := s.Load(b.Context(), cid)
			if err != nil || len(recs) != benchReplayN {
				b.Fatalf("Load = %d records, %v; want %d", len(recs), err, benchReplayN)
			}
		}
		reportRate(b, b.N*benchReplayN, "events/s")
	})

	b.Run("raw"+name, func(b *testing.B) {
		for b.Loop() {
			cons, err := s.stream.OrderedConsumer(b.Context(), natsjs.OrderedConsumerConfig{FilterSubjects: []string{ceremonyFilter(cid)}})
			if err != nil {
				b.Fatal(err)
			}
			it, err := cons.Messages()
			if err != nil {
				b.Fatal(err)
			}
			for i := range benchReplayN {
				if _, err := it.Next(natsjs.NextContext(b.Context())); err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
			}
			it.Stop()
			// As Load does: the server keeps at most 1000 consumers per
			// stream by default, and an ordered consumer lingers for 5 min.
			if err := s.js.DeleteConsumer(b.Context(), s.name, cons.CachedInfo().Name); err != nil {
				b.Fatalf("delete consumer: %v", err)
			}
		}
		reportRate(b, b.N*benchReplayN, "events/s")
	})
}
