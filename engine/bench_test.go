package engine_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/internal/benchratio"
)

// The engine against raw JetStream on the same embedded server, same
// durability (SyncAlways), same run, messages of the same size, one
// operation of each in turn (internal/benchratio), 5 repetitions:
//
//	go test -run '^$' -bench 'Append|Rebuild' -benchtime 1x ./engine/
//
// ratio-median is engine/raw; ratio-min and ratio-max its spread.

const benchReps = 5

func openBench(b *testing.B) (*engine.Engine, *jetstream.Store) {
	b.Helper()
	st, err := jetstream.Open(context.Background(), jetstream.Config{DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	eng, err := engine.New(engine.Config{Store: st, Registry: kinds.Registry(), Definitions: []*engine.Definition{backupkey.GenerateDefinition(), backupkey.LoadDefinition()}, Clock: clockwork.NewFakeClockAt(time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC))})
	if err != nil {
		b.Fatal(err)
	}
	if err := eng.Open(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { eng.Close(); st.Close() })
	return eng, st
}

func startBench(b *testing.B, eng *engine.Engine, id string) *engine.Instance {
	b.Helper()
	inst, err := eng.Start(context.Background(), backupkey.KindGenerate, id, events.SourceOperator,
		&events.GenerateStarted{Operator: "bench", Threshold: 2, Shares: 3, Reader: "bench reader", HSM: "bench hsm"})
	if err != nil {
		b.Fatal(err)
	}
	// Into the writing phase, where card observations are data events.
	if err := inst.Record(context.Background(), events.SourceOperator, &events.WriteConfirmed{}); err != nil {
		b.Fatal(err)
	}
	return inst
}

// benchPayload is a typical card observation.
var benchPayload = &events.CardPresented{Reader: "Emulated cyberJack e-com 00", ReaderClass: "host-pinpad", Serial: "FFFE00001001", Slot: 1}

// eventSize returns the stored size of one benchPayload event.
func eventSize(b *testing.B, st *jetstream.Store, id string) int {
	recs, err := st.Load(context.Background(), id)
	if err != nil || len(recs) == 0 {
		b.Fatalf("load %s: %v", id, err)
	}
	return len(recs[len(recs)-1].Data)
}

// rawPublisher appends opaque messages of one size to one subject, with
// the same expectation and message id the store sends.
func rawPublisher(st *jetstream.Store, size int) func(int) (int, error) {
	data := make([]byte, size)
	for i := range data {
		data[i] = 'x'
	}
	js, stream := st.JetStream(), st.StreamName()
	ctx := context.Background()
	var last uint64
	n := 0
	return func(int) (int, error) {
		n++
		ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: "ceremony.bench-raw.card.presented", Data: data},
			natsjs.WithExpectStream(stream), natsjs.WithMsgID(fmt.Sprintf("raw-%d", n)),
			natsjs.WithExpectLastSequenceForSubject(last, "ceremony.bench-raw.>"))
		if err != nil {
			return 0, err
		}
		last = ack.Sequence
		return 1, nil
	}
}

// BenchmarkAppend: one event recorded by the engine (encode, seal, append
// with expectation, fold) against one raw publish of the same size.
func BenchmarkAppend(b *testing.B) {
	eng, st := openBench(b)
	ctx := context.Background()
	inst := startBench(b, eng, "bench-engine")
	if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		benchratio.Run(b, benchReps, 400, "events/s", benchratio.Pair{
			Name: "engine",
			Subject: func(int) (int, error) {
				return 1, inst.Record(ctx, events.SourceReader, benchPayload)
			},
			Baseline: rawPublisher(st, eventSize(b, st, inst.ID())),
		})
	}
}

const rebuildN = 1000

// rawRead reads every message of one ceremony's subjects as the store
// reads a ceremony on a stream of one replica (jetstream readOnOneServer:
// a reader from sequence 1 that asks for exactly n messages), without
// decoding.
func rawRead(st *jetstream.Store, filter string, n int) func(int) (int, error) {
	js, ctx := st.JetStream(), context.Background()
	cfg := natsjs.ConsumerConfig{FilterSubject: filter, DeliverPolicy: natsjs.DeliverByStartSequencePolicy, OptStartSeq: 1,
		AckPolicy: natsjs.AckNonePolicy, MemoryStorage: true, Replicas: 1, InactiveThreshold: time.Minute}
	return func(int) (int, error) {
		c, err := js.CreateConsumer(ctx, st.StreamName(), cfg)
		if err != nil {
			return 0, err
		}
		it, err := c.Messages(natsjs.StopAfter(n))
		if err != nil {
			return 0, err
		}
		return takeRaw(ctx, st, c.CachedInfo().Name, it, n)
	}
}

// takeRaw reads the bytes of n messages from it without decoding them,
// then stops it and deletes its consumer, as the store's reads do (the
// server keeps at most 1000 consumers per stream by default).
func takeRaw(ctx context.Context, st *jetstream.Store, consumer string, it natsjs.MessagesContext, n int) (int, error) {
	for i := range n {
		m, err := it.Next(natsjs.NextContext(ctx))
		if err != nil {
			it.Stop()
			return 0, fmt.Errorf("message %d: %w", i, err)
		}
		_ = m.Data()
	}
	it.Stop()
	return n, st.JetStream().DeleteConsumer(ctx, st.StreamName(), consumer)
}

// rebuildStore opens the benchmark store with one ceremony of rebuildN
// events for the rebuild benchmarks.
func rebuildStore(b *testing.B) (*engine.Engine, *jetstream.Store) {
	b.Helper()
	eng, st := openBench(b)
	inst := startBench(b, eng, "bench-rebuild")
	for range rebuildN - 2 {
		if err := inst.Record(context.Background(), events.SourceReader, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	return eng, st
}

// BenchmarkRebuild: a ceremony of 1,000 events rebuilt by the engine
// (load, decode, verify hashes, decode payloads, fold through the FSM)
// against a reader of the same messages' bytes (rawRead).
func BenchmarkRebuild(b *testing.B) {
	eng, st := rebuildStore(b)
	ctx := context.Background()
	for range b.N {
		benchratio.Run(b, benchReps, 40, "events/s", benchratio.Pair{
			Name: "engine",
			Subject: func(int) (int, error) {
				got, err := eng.Replay(ctx, "bench-rebuild")
				if err == nil && got.Position() != rebuildN {
					err = fmt.Errorf("rebuilt to position %d, want %d", got.Position(), rebuildN)
				}
				return rebuildN, err
			},
			Baseline: rawRead(st, "ceremony.bench-rebuild.>", rebuildN),
		})
	}
}

// peakRSS is the process's peak resident set (VmHWM), in bytes, or 0
// where /proc is not there.
func peakRSS() float64 {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmHWM:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb * 1024
		}
	}
	return 0
}

// BenchmarkMemory reports the heap of an idle engine (embedded server
// included) and what each active ceremony adds.
//
//	go test -run '^$' -bench Memory -benchtime 1x ./engine/
func BenchmarkMemory(b *testing.B) {
	heap := func() float64 {
		runtime.GC()
		runtime.GC()
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		return float64(m.HeapInuse)
	}
	for range b.N {
		base := heap()
		eng, _ := openBench(b)
		idle := heap()
		const active = 200
		ctx := context.Background()
		for i := range active {
			inst := startBench(b, eng, fmt.Sprintf("mem-%d", i))
			for range 20 { // a ceremony in mid-course: about 20 events
				if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
					b.Fatal(err)
				}
			}
		}
		full := heap()
		b.ReportMetric((idle-base)/(1<<20), "idle-heap-MiB")
		b.ReportMetric((full-idle)/active/1024, "heap-KiB/ceremony")
		b.ReportMetric(peakRSS()/(1<<20), "peak-RSS-MiB")
	}
}

// BenchmarkRebuildCPU is BenchmarkRebuild counted in CPU time rather
// than wall time: the process's user and system CPU (embedded server,
// client and GC included) summed over one rebuild and one raw read in
// turn. On a machine whose cores are all busy the wall-clock ratio moves
// with the load; what each side costs in CPU moves much less.
//
//	go test -run '^$' -bench RebuildCPU -benchtime 1x ./engine/
func BenchmarkRebuildCPU(b *testing.B) {
	eng, st := rebuildStore(b)
	ctx := context.Background()
	raw := rawRead(st, "ceremony.bench-rebuild.>", rebuildN)
	cpu := func() time.Duration {
		var r syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &r); err != nil {
			b.Fatal(err)
		}
		return time.Duration(r.Utime.Nano() + r.Stime.Nano())
	}
	rebuild := func(int) (int, error) {
		got, err := eng.Replay(ctx, "bench-rebuild")
		if err == nil && got.Position() != rebuildN {
			err = fmt.Errorf("rebuilt to position %d, want %d", got.Position(), rebuildN)
		}
		return rebuildN, err
	}
	const rounds = 300
	for range b.N {
		var cEng, cRaw time.Duration
		for i := range rounds {
			sides := []struct {
				f func(int) (int, error)
				t *time.Duration
			}{{rebuild, &cEng}, {raw, &cRaw}}
			for k := range 2 {
				s := sides[(i+k)%2]
				c := cpu()
				if _, err := s.f(i); err != nil {
					b.Fatal(err)
				}
				*s.t += cpu() - c
			}
		}
		b.ReportMetric(cEng.Seconds()*1e6/(rounds*rebuildN), "engine-cpu-us/event")
		b.ReportMetric(cRaw.Seconds()*1e6/(rounds*rebuildN), "raw-cpu-us/event")
		b.ReportMetric(cRaw.Seconds()/cEng.Seconds(), "cpu-ratio")
	}
}
