package engine_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jonboulle/clockwork"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream/clustertest"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/internal/benchratio"
)

// The engine against raw JetStream on a real 3-node cluster
// (adapters/jetstream/clustertest: nats-server in this process, loopback
// routes, sync_interval always, an R3 stream), same run, same cluster,
// one operation of each in turn (internal/benchratio):
//
//	make bench-cluster
//	= go test -run '^$' -bench '^BenchmarkCluster' -benchtime 1x ./engine/
//
// BenchmarkClusterStep reports step latency p50/p99 with 1, 10 and 100
// ceremonies in flight: a step is what a runner stores for one operator
// action (step.deadline_set, a card observation, step.completed), the
// ceremonies' steps run concurrently, and raw publishes of the same sizes
// at the same concurrency alternate with them.

// openClusterBench opens the store on a new 3-node cluster and an engine
// on it.
func openClusterBench(b *testing.B) (*engine.Engine, *jetstream.Store) {
	b.Helper()
	c := clustertest.Start(b)
	st, err := jetstream.Open(context.Background(), jetstream.Config{Remote: jetstream.Remote{URLs: c.URLs(0)}})
	if err != nil {
		b.Fatal(err)
	}
	if r := c.Replicas(st.StreamName()); r != 3 {
		b.Fatalf("the stream has %d replicas, want 3", r)
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

// BenchmarkClusterAppend is BenchmarkAppend on the cluster.
func BenchmarkClusterAppend(b *testing.B) {
	eng, st := openClusterBench(b)
	ctx := context.Background()
	inst := startBench(b, eng, "bench-engine")
	if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
		b.Fatal(err)
	}
	for range b.N {
		benchratio.Run(b, benchReps, 200, "events/s", benchratio.Pair{
			Name: "engine",
			Subject: func(int) (int, error) {
				return 1, inst.Record(ctx, events.SourceReader, benchPayload)
			},
			Baseline: rawClusterPublisher(st, eventSize(b, st, inst.ID())),
		})
	}
}

// BenchmarkClusterRebuild is BenchmarkRebuild on the cluster: a ceremony
// of 1,000 events rebuilt against an ordered consumer reading its bytes
// (rawOrderedRead), as the store reads a long ceremony on a cluster.
func BenchmarkClusterRebuild(b *testing.B) {
	eng, st := openClusterBench(b)
	ctx := context.Background()
	inst := startBench(b, eng, "bench-rebuild")
	for range rebuildN - 2 {
		if err := inst.Record(ctx, events.SourceReader, benchPayload); err != nil {
			b.Fatal(err)
		}
	}
	for range b.N {
		benchratio.Run(b, benchReps, 20, "events/s", benchratio.Pair{
			Name: "engine",
			Subject: func(int) (int, error) {
				got, err := eng.Replay(ctx, "bench-rebuild")
				if err == nil && got.Position() != rebuildN {
					err = fmt.Errorf("rebuilt to position %d, want %d", got.Position(), rebuildN)
				}
				return rebuildN, err
			},
			Baseline: rawOrderedRead(st, "ceremony.bench-rebuild.>", rebuildN),
		})
	}
}

// rawOrderedRead reads every message of one ceremony's subjects with an
// ordered consumer from sequence 1, as the store reads a ceremony of more
// than 64 events on a stream of several replicas (after asking the
// stream leader for the last one), without decoding.
func rawOrderedRead(st *jetstream.Store, filter string, n int) func(int) (int, error) {
	js, ctx := st.JetStream(), context.Background()
	return func(int) (int, error) {
		c, err := js.OrderedConsumer(ctx, st.StreamName(), natsjs.OrderedConsumerConfig{FilterSubjects: []string{filter}})
		if err != nil {
			return 0, err
		}
		it, err := c.Messages()
		if err != nil {
			return 0, err
		}
		return takeRaw(ctx, st, c.CachedInfo().Name, it, n)
	}
}

// stepEvents is the number of events of one step.
const stepEvents = 3

// engineStep stores one step of inst: its deadline, a card observation,
// its completion.
func engineStep(ctx context.Context, inst *engine.Instance) error {
	sctx, err := inst.BeginStep(ctx, "present-card", time.Hour)
	if err != nil {
		return err
	}
	if err := inst.Record(sctx, events.SourceReader, benchPayload); err != nil {
		return err
	}
	return inst.EndStep(ctx, "present-card")
}

// rawSteps publishes, on one subject per ceremony, messages of the sizes
// of one step's events, with the expectation and message id the store
// sends.
type rawSteps struct {
	js     natsjs.JetStream
	stream string
	sizes  []int
	last   []uint64 // per ceremony
	n      []int
}

func (r *rawSteps) step(ctx context.Context, k int) error {
	for _, size := range r.sizes {
		r.n[k]++
		ack, err := publishRetrying(ctx, r.js, &nats.Msg{Subject: fmt.Sprintf("ceremony.raw-%d.x", k), Data: make([]byte, size)},
			natsjs.WithExpectStream(r.stream), natsjs.WithMsgID(fmt.Sprintf("raw-%d-%d", k, r.n[k])),
			natsjs.WithExpectLastSequenceForSubject(r.last[k], fmt.Sprintf("ceremony.raw-%d.>", k)))
		if err != nil {
			return err
		}
		r.last[k] = ack.Sequence
	}
	return nil
}

// publishRetrying is a raw client's checked publish on a replicated
// stream: 10164 (the subject's previous write is still being applied on
// the leader) is retried after 5 ms, as the store does.
func publishRetrying(ctx context.Context, js natsjs.JetStream, msg *nats.Msg, opts ...natsjs.PublishOpt) (*natsjs.PubAck, error) {
	for try := 0; ; try++ {
		ack, err := js.PublishMsg(ctx, msg, opts...)
		var apiErr *natsjs.APIError
		if err == nil || try == 800 || !errors.As(err, &apiErr) || apiErr.ErrorCode != natsjs.JSErrCodeStreamWrongLastSequenceConstant {
			return ack, err
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// rawClusterPublisher is rawPublisher with publishRetrying.
func rawClusterPublisher(st *jetstream.Store, size int) func(int) (int, error) {
	data := make([]byte, size)
	js, stream := st.JetStream(), st.StreamName()
	ctx := context.Background()
	var last uint64
	n := 0
	return func(int) (int, error) {
		n++
		ack, err := publishRetrying(ctx, js, &nats.Msg{Subject: "ceremony.bench-raw.card.presented", Data: data},
			natsjs.WithExpectStream(stream), natsjs.WithMsgID(fmt.Sprintf("raw-%d", n)),
			natsjs.WithExpectLastSequenceForSubject(last, "ceremony.bench-raw.>"))
		if err != nil {
			return 0, err
		}
		last = ack.Sequence
		return 1, nil
	}
}

// latencies collects the time of each step.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d)
	l.mu.Unlock()
}

// quantile returns the q-quantile (nearest rank) in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	s := slices.Clone(l.d)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	i := int(q*float64(len(s))+0.5) - 1
	i = max(0, min(i, len(s)-1))
	return float64(s[i]) / float64(time.Millisecond)
}

// concurrently runs step(k) for k < n at once, timing each, and returns
// the first error.
func concurrently(n int, lat *latencies, step func(k int) error) error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	for k := range n {
		wg.Go(func() {
			start := time.Now()
			errs[k] = step(k)
			lat.add(time.Since(start))
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// BenchmarkClusterStep: one round is one step of each of n ceremonies in
// flight, concurrently; engine rounds and raw rounds alternate.
func BenchmarkClusterStep(b *testing.B) {
	eng, st := openClusterBench(b)
	ctx := context.Background()
	for _, n := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("inflight=%d", n), func(b *testing.B) {
			insts := make([]*engine.Instance, n)
			for k := range insts {
				insts[k] = startBench(b, eng, fmt.Sprintf("bench-step-%d-%d", n, k))
			}
			// One step first, to learn its events' stored sizes.
			if err := engineStep(ctx, insts[0]); err != nil {
				b.Fatal(err)
			}
			recs, err := st.Load(ctx, insts[0].ID())
			if err != nil || len(recs) < stepEvents {
				b.Fatalf("load %s: %d records, %v", insts[0].ID(), len(recs), err)
			}
			raw := &rawSteps{js: st.JetStream(), stream: st.StreamName(), last: make([]uint64, n), n: make([]int, n)}
			for _, r := range recs[len(recs)-stepEvents:] {
				raw.sizes = append(raw.sizes, len(r.Data))
			}
			rounds := max(10, 100/n)
			for range b.N {
				var engLat, rawLat latencies
				before := insts[n-1].Position()
				benchratio.Run(b, benchReps, rounds, "events/s", benchratio.Pair{
					Name: "engine",
					Subject: func(int) (int, error) {
						return n * stepEvents, concurrently(n, &engLat, func(k int) error { return engineStep(ctx, insts[k]) })
					},
					Baseline: func(int) (int, error) {
						return n * stepEvents, concurrently(n, &rawLat, func(k int) error { return raw.step(ctx, k) })
					},
				})
				if got, want := insts[n-1].Position()-before, uint64(benchReps*rounds*stepEvents); got != want {
					b.Fatalf("a ceremony stored %d events, want %d", got, want)
				}
				b.ReportMetric(engLat.quantile(0.50), "engine-p50-ms")
				b.ReportMetric(engLat.quantile(0.99), "engine-p99-ms")
				b.ReportMetric(rawLat.quantile(0.50), "raw-p50-ms")
				b.ReportMetric(rawLat.quantile(0.99), "raw-p99-ms")
			}
		})
	}
}
