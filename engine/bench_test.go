package engine_test

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
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
)

// The engine against raw JetStream on the same embedded server, same
// durability (SyncAlways), same run, messages of the same size:
//
//	go test -run '^$' -bench . -benchtime 2000x ./engine/

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

func rate(b *testing.B, n int, unit string) {
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), unit)
}

func BenchmarkAppend(b *testing.B) {
	eng, st := openBench(b)
	ctx := context.Background()
	run := 0
	size := 0
	b.Run("engine", func(b *testing.B) {
		run++
		inst := startBench(b, eng, fmt.Sprintf("bench-engine-%d", run))
		b.ResetTimer()
		for range b.N {
			if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		size = eventSize(b, st, inst.ID())
		b.SetBytes(int64(size))
		rate(b, b.N, "events/s")
	})
	b.Run("raw", func(b *testing.B) {
		run++
		if size == 0 {
			b.Fatal("run the engine sub-benchmark first (it sets the message size)")
		}
		data := make([]byte, size)
		for i := range data {
			data[i] = 'x'
		}
		js, stream := st.JetStream(), st.StreamName()
		subject := fmt.Sprintf("ceremony.bench-raw-%d.card.presented", run)
		filter := fmt.Sprintf("ceremony.bench-raw-%d.>", run)
		b.SetBytes(int64(size))
		b.ResetTimer()
		var last uint64
		for i := range b.N {
			ack, err := js.PublishMsg(ctx, &nats.Msg{Subject: subject, Data: data},
				natsjs.WithExpectStream(stream), natsjs.WithMsgID(fmt.Sprintf("raw-%d-%d", run, i)),
				natsjs.WithExpectLastSequenceForSubject(last, filter))
			if err != nil {
				b.Fatal(err)
			}
			last = ack.Sequence
		}
		rate(b, b.N, "events/s")
	})
}

const rebuildN = 1000

func BenchmarkRebuild(b *testing.B) {
	eng, st := openBench(b)
	ctx := context.Background()
	inst := startBench(b, eng, "bench-rebuild")
	for range rebuildN - 1 {
		if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	b.Run(fmt.Sprintf("engine-%d", rebuildN), func(b *testing.B) {
		for range b.N {
			got, err := eng.Replay(ctx, "bench-rebuild")
			if err != nil || got.Position() != rebuildN {
				b.Fatalf("replay: %v (position %d)", err, got.Position())
			}
		}
		rate(b, b.N*rebuildN, "events/s")
	})
	b.Run(fmt.Sprintf("raw-%d", rebuildN), func(b *testing.B) {
		js := st.JetStream()
		for range b.N {
			c, err := js.OrderedConsumer(ctx, st.StreamName(), natsjs.OrderedConsumerConfig{FilterSubjects: []string{"ceremony.bench-rebuild.>"}})
			if err != nil {
				b.Fatal(err)
			}
			it, err := c.Messages()
			if err != nil {
				b.Fatal(err)
			}
			for i := range rebuildN {
				m, err := it.Next(natsjs.NextContext(ctx))
				if err != nil {
					b.Fatalf("message %d: %v", i, err)
				}
				_ = m.Data()
			}
			it.Stop()
			// As the store's reads do: the server keeps at most 1000
			// consumers per stream by default.
			if err := js.DeleteConsumer(ctx, st.StreamName(), c.CachedInfo().Name); err != nil {
				b.Fatal(err)
			}
		}
		rate(b, b.N*rebuildN, "events/s")
	})
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
