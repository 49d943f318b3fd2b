package jetstream

import (
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"
)

// The group-commit study (README, Performance): JetStream's atomic batch
// publish (server >= 2.12, stream allow_atomic; headers Nats-Batch-Id,
// Nats-Batch-Sequence, Nats-Batch-Commit) against the embedded server.

type studyMsg struct {
	ceremony string // the subject is study.<ceremony>.ev
	expected uint64 // Nats-Expected-Last-Subject-Sequence for study.<ceremony>.>
	msgID    string
}

type batchAck struct {
	Seq   uint64 `json:"seq"`
	Batch string `json:"batch"`
	Count int    `json:"count"`
	Error *struct {
		Code    int    `json:"code"`
		ErrCode int    `json:"err_code"`
		Desc    string `json:"description"`
	} `json:"error"`
}

// studyStream makes an atomic-publish stream beside the store's.
func studyStream(t testing.TB, s *Store) natsjs.Stream {
	t.Helper()
	st, err := s.js.CreateStream(t.Context(), natsjs.StreamConfig{
		Name: "STUDY", Subjects: []string{"study.>"}, Storage: natsjs.FileStorage, AllowAtomicPublish: true,
	})
	if err != nil {
		t.Fatalf("create an allow_atomic stream: %v", err)
	}
	return st
}

func studyHeader(m studyMsg) nats.Header {
	h := nats.Header{}
	h.Set(natsjs.ExpectedLastSubjSeqHeader, strconv.FormatUint(m.expected, 10))
	h.Set("Nats-Expected-Last-Subject-Sequence-Subject", "study."+m.ceremony+".>")
	if m.msgID != "" {
		h.Set(natsjs.MsgIDHeader, m.msgID)
	}
	return h
}

// publishBatch sends msgs as one atomic batch and returns the server's
// answer to the commit.
func publishBatch(t testing.TB, nc *nats.Conn, id string, msgs []studyMsg) batchAck {
	t.Helper()
	for i, m := range msgs {
		h := studyHeader(m)
		h.Set("Nats-Batch-Id", id)
		h.Set("Nats-Batch-Sequence", strconv.Itoa(i+1))
		msg := &nats.Msg{Subject: "study." + m.ceremony + ".ev", Data: []byte(`{"x":1}`), Header: h}
		if i < len(msgs)-1 {
			if err := nc.PublishMsg(msg); err != nil {
				t.Fatal(err)
			}
			continue
		}
		h.Set("Nats-Batch-Commit", "1")
		reply, err := nc.RequestMsg(msg, 10*time.Second)
		if err != nil {
			t.Fatalf("batch %s commit: %v", id, err)
		}
		var ack batchAck
		if err := json.Unmarshal(reply.Data, &ack); err != nil {
			t.Fatalf("batch %s commit answer %q: %v", id, reply.Data, err)
		}
		return ack
	}
	t.Fatal("empty batch")
	return batchAck{}
}

func lastSeq(t testing.TB, st natsjs.Stream) uint64 {
	t.Helper()
	info, err := st.Info(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return info.State.LastSeq
}

// TestAtomicBatchStudy: an atomic batch checks each message's expected
// last subject sequence (one ceremony each), with message ids; one stale
// expectation refuses the whole batch; a ceremony can have only one
// checked event per batch.
func TestAtomicBatchStudy(t *testing.T) {
	s := openTest(t, t.TempDir())
	st := studyStream(t, s)
	nc := s.js.Conn()

	ack := publishBatch(t, nc, "b1", []studyMsg{{"a", 0, "a-1"}, {"b", 0, "b-1"}, {"c", 0, "c-1"}})
	if ack.Error != nil || ack.Count != 3 || ack.Seq != 3 {
		t.Fatalf("batch of three ceremonies' first events: %+v, want committed, count 3, last seq 3", ack)
	}

	// b's expectation is stale (its last event is 2): nothing is stored,
	// not even a's and c's events, whose expectations hold.
	ack = publishBatch(t, nc, "b2", []studyMsg{{"a", 1, "a-2"}, {"b", 0, "b-2"}, {"c", 3, "c-2"}})
	if ack.Error == nil || natsjs.ErrorCode(ack.Error.ErrCode) != natsjs.JSErrCodeStreamWrongLastSequence {
		t.Fatalf("batch with one stale expectation: %+v, want wrong last sequence (10071)", ack)
	}
	if got := lastSeq(t, st); got != 3 {
		t.Fatalf("after the refused batch the stream ends at %d, want 3 (all or nothing)", got)
	}

	// Two checked events of one ceremony in one batch are refused.
	ack = publishBatch(t, nc, "b3", []studyMsg{{"a", 1, "a-2"}, {"a", 4, "a-3"}})
	if ack.Error == nil {
		t.Fatalf("batch with two checked events of one ceremony: %+v, want refused", ack)
	}
	t.Logf("two checked events of one ceremony: %d %s", ack.Error.ErrCode, ack.Error.Desc)

	// A message id already stored refuses the batch too.
	ack = publishBatch(t, nc, "b4", []studyMsg{{"a", 1, "a-1"}, {"b", 2, "b-2"}})
	if ack.Error == nil {
		t.Fatalf("batch repeating a stored message id: %+v, want refused", ack)
	}
	t.Logf("a stored message id in a batch: %d %s", ack.Error.ErrCode, ack.Error.Desc)

	ack = publishBatch(t, nc, "b5", []studyMsg{{"a", 1, "a-2"}, {"b", 2, "b-2"}, {"c", 3, "c-2"}})
	if ack.Error != nil || ack.Count != 3 || ack.Seq != 6 {
		t.Fatalf("second batch of three ceremonies: %+v, want committed at 6", ack)
	}
}

// BenchmarkAtomicBatchStudy: n ceremonies in flight each append one event,
// (raw) as n concurrent single publishes with expectation and message id,
// or (batch) as one atomic batch of the n events; alternating, same
// server, SyncAlways. Reports p99 of an event's latency and events/s.
//
//	go test -run '^$' -bench AtomicBatchStudy -benchtime 1x ./adapters/jetstream/
func BenchmarkAtomicBatchStudy(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("inflight-%d", n), func(b *testing.B) {
			s := openTest(b, b.TempDir())
			studyStream(b, s)
			nc := s.js.Conn()
			last := map[string]uint64{}
			var single, batch []time.Duration
			var tSingle, tBatch time.Duration
			const rounds = 30
			for r := range rounds * b.N {
				// n single publishes at once, each its own ceremony.
				start := time.Now()
				var wg sync.WaitGroup
				lat := make([]time.Duration, n)
				seqs := make([]uint64, n)
				for i := range n {
					wg.Go(func() {
						c := fmt.Sprintf("s%d", i)
						m := studyMsg{c, last[c], fmt.Sprintf("%s-%d", c, r)}
						t0 := time.Now()
						ack, err := s.js.PublishMsg(b.Context(), &nats.Msg{Subject: "study." + c + ".ev", Data: make([]byte, 300), Header: studyHeader(m)})
						lat[i] = time.Since(t0)
						if err != nil {
							b.Errorf("single publish: %v", err)
							return
						}
						seqs[i] = ack.Sequence
					})
				}
				wg.Wait()
				tSingle += time.Since(start)
				single = append(single, lat...)
				for i := range n {
					last[fmt.Sprintf("s%d", i)] = seqs[i]
				}
				// One batch of n events, one per ceremony.
				msgs := make([]studyMsg, n)
				for i := range n {
					c := fmt.Sprintf("b%d", i)
					msgs[i] = studyMsg{c, last[c], fmt.Sprintf("%s-%d", c, r)}
				}
				start = time.Now()
				ack := publishBatch(b, nc, fmt.Sprintf("r%d", r), msgs)
				d := time.Since(start)
				tBatch += d
				if ack.Error != nil {
					b.Fatalf("batch: %+v", ack.Error)
				}
				for i := range n { // the batch's events got consecutive sequences
					last[fmt.Sprintf("b%d", i)] = ack.Seq - uint64(n-1-i)
					batch = append(batch, d)
				}
			}
			p99 := func(ds []time.Duration) float64 {
				slices.Sort(ds)
				return float64(ds[len(ds)*99/100].Microseconds()) / 1000
			}
			b.ReportMetric(p99(single), "raw-p99-ms")
			b.ReportMetric(p99(batch), "batch-p99-ms")
			b.ReportMetric(float64(rounds*b.N*n)/tSingle.Seconds(), "raw-events/s")
			b.ReportMetric(float64(rounds*b.N*n)/tBatch.Seconds(), "batch-events/s")
		})
	}
}
