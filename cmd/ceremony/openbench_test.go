package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// An opening benchmark store: ceremonies of 20 events (a generate: start,
// key generated, three cards verified and written, the key loaded, three
// witness sign-offs), every tenth one left open after 10 events; cards
// from a pool of 30 serials. Appended through the engine (--sync relaxed:
// only the build is relaxed), then what a writer leaves at close: the
// projection checkpoint and the transparency log's hash file and
// checkpoint.
const benchCeremonyEvents = 20

func benchCeremony(ctx context.Context, eng *engine.Engine, i int) error {
	id := fmt.Sprintf("gen-%07d", i)
	inst, err := eng.Start(ctx, backupkey.KindGenerate, id, events.SourceOperator,
		&events.GenerateStarted{Operator: "bench", Threshold: 2, Shares: 3, Reader: "Virtual PCD 00 00", HSM: "softhsm2:token=backup"})
	if err != nil {
		return err
	}
	set := fmt.Sprintf("%032x", i)
	card := func(j int) string { return fmt.Sprintf("0005%08d", (3*i+j)%30) }
	evs := []events.Payload{
		&events.WriteConfirmed{},
		&events.KeyGenerated{KeySetID: set, Threshold: 2, Shares: 3, KCV: set[26:],
			Commitments: []events.ShareCommitment{{Index: 1, Commitment: "c1"}, {Index: 2, Commitment: "c2"}, {Index: 3, Commitment: "c3"}}},
	}
	for j := 1; j <= 3; j++ {
		evs = append(evs,
			&events.PINVerified{Serial: card(j), PIN: "PW3"},
			&events.ShareWriteRequested{Serial: card(j), KeySetID: set, Index: j},
			&events.ShareWritten{Serial: card(j), KeySetID: set, Index: j},
			&events.CardRemoved{Reader: "Virtual PCD 00 00", Serial: card(j)})
	}
	evs = append(evs, &events.ReadConfirmed{},
		&events.HSMKeyLoaded{HSM: "softhsm2:token=backup", KeySetID: set, KCV: set[26:], Label: "backup-key-" + set[:8]})
	for _, w := range []string{"wendy", "walt", "wim"} {
		evs = append(evs, &events.Witnessed{Name: w, Role: "witness", Statement: "I saw it", UpTo: "x"})
	}
	if i%10 == 9 {
		evs = evs[:9]
	}
	for _, p := range evs {
		if err := inst.Record(ctx, events.SourceOperator, p); err != nil {
			return fmt.Errorf("%s: %s: %w", id, p.EventType(), err)
		}
	}
	return nil
}

// buildOpenStore makes a store of about n events in data (ceremonies
// recorded by 8 workers), then the projection checkpoint and, with an
// audit key in HOME, the transparency log's checkpoint.
func buildOpenStore(tb testing.TB, data string, n int) {
	tb.Helper()
	ctx := context.Background()
	st, err := jetstream.Open(ctx, jetstream.Config{DataDir: data, Sync: jetstream.SyncRelaxed})
	if err != nil {
		tb.Fatal(err)
	}
	defer st.Close()
	cfg := engine.Config{Store: st, Registry: kinds.Registry(), Definitions: kinds.Definitions(), Passive: true}
	eng, err := engine.New(cfg)
	if err != nil {
		tb.Fatal(err)
	}
	defer eng.Close()
	ceremonies := n / benchCeremonyEvents
	var next int
	var mu sync.Mutex
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= ceremonies {
					return
				}
				if err := benchCeremony(ctx, eng, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		tb.Fatal(err)
	}
	var out bytes.Buffer
	saveProjection(ctx, st, &out)
	if out.Len() > 0 {
		tb.Fatalf("projection checkpoint: %s", out.String())
	}
	sealProjection(ctx, st) // as a writer's close (app.close)
	tl, err := openTranslog(translog.Dir(filepath.Join(data, translog.DirName)), st.StreamName())
	if err != nil {
		tb.Fatal(err)
	}
	if tl != nil {
		if _, _, _, err := tl.Checkpoint(ctx, st, time.Now()); err != nil {
			tb.Fatal(err)
		}
	}
}

// TestOpenBenchStore is the suite's correctness version of BenchmarkOpen:
// on a 2,000-event store list and show answer as from a full replay, and
// list reads the projection checkpoint a writer left.
func TestOpenBenchStore(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	if code, out := runIn(t, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out)
	}
	data := filepath.Join(t.TempDir(), "data")
	buildOpenStore(t, data, 2000)
	code, list := runIn(t, "list", "--data-dir", data)
	if code != exitOK || strings.Count(list, "\ngen-") != 100 {
		t.Fatalf("list: exit %d, %d ceremonies, want 100:\n%.2000s", code, strings.Count(list, "\ngen-"), list)
	}
	if !strings.Contains(list, "gen-0000009  backup-key-generate  writing") || !strings.Contains(list, "gen-0000008  backup-key-generate  completed") {
		t.Errorf("list does not show gen-0000009 open and gen-0000008 completed:\n%.1500s", list)
	}
	code, show := runIn(t, "show", "gen-0000042", "--data-dir", data)
	if code != exitOK || !strings.Contains(show, "events") || !strings.Contains(show, "20") {
		t.Fatalf("show: exit %d\n%s", code, show)
	}
	// The same list from a full replay: no checkpoint.
	withStore(t, data, func(st *jetstream.Store) {
		if err := st.SaveProjection(context.Background(), map[string][]byte{kinds.PartMeta: []byte("{}")}); err != nil {
			t.Fatal(err)
		}
	})
	if _, again := runIn(t, "list", "--data-dir", data); again != list {
		t.Errorf("list from a full replay:\n%.1500s\nfrom the checkpoint:\n%.1500s", again, list)
	}
}

// BenchmarkOpen times 'ceremony list' and 'ceremony show ID' as a user
// runs them (the binary, exec'd; median of 5 runs) on stores of
// BENCH_OPEN_SIZES events (default 10000,100000; make bench-open adds
// 1000000). Stores are kept in BENCH_OPEN_DIR (default a temporary
// directory) and reused when complete; BENCH_OPEN_BIN names a binary
// already built from this tree.
//
//	make bench-open
func BenchmarkOpen(b *testing.B) {
	sizes := []int{10_000, 100_000}
	if s := os.Getenv("BENCH_OPEN_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil {
				b.Fatalf("BENCH_OPEN_SIZES: %v", err)
			}
			sizes = append(sizes, n)
		}
	}
	root := os.Getenv("BENCH_OPEN_DIR")
	if root == "" {
		root = b.TempDir()
	}
	// Built before HOME moves: the go command's caches are under it.
	bin := os.Getenv("BENCH_OPEN_BIN") // a binary built from this tree; default: built here
	if bin == "" {
		bin = filepath.Join(root, "ceremony")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
	}
	home := filepath.Join(root, "home")
	b.Setenv("HOME", home)
	b.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	if key, _ := defaultKeyFile(); !fileExists(key) {
		var out bytes.Buffer
		if code := run(context.Background(), []string{"audit", "key", "--create"}, strings.NewReader(""), &out, &out); code != exitOK {
			b.Fatalf("audit key --create: exit %d\n%s", code, out.String())
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			data := filepath.Join(root, strconv.Itoa(n), "data")
			ready := filepath.Join(root, strconv.Itoa(n), "ready")
			if !fileExists(ready) {
				os.RemoveAll(filepath.Dir(data))
				t0 := time.Now()
				buildOpenStore(b, data, n)
				if err := os.WriteFile(ready, nil, 0o600); err != nil {
					b.Fatal(err)
				}
				b.Logf("built %d events in %v", n, time.Since(t0).Round(time.Second))
			}
			show := fmt.Sprintf("gen-%07d", n/benchCeremonyEvents/2)
			for range b.N {
				b.ReportMetric(timeCLI(b, bin, "list", "--data-dir", data), "list-s")
				b.ReportMetric(timeCLI(b, bin, "show", show, "--data-dir", data), "show-s")
			}
		})
	}
}

// timeCLI runs the binary 5 times and returns the median wall time in
// seconds; a failing run fails the benchmark.
func timeCLI(b *testing.B, bin string, args ...string) float64 {
	var ts []float64
	for range 5 {
		cmd := exec.Command(bin, args...)
		var errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = io.Discard, &errb
		t0 := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("%v: %v\n%s", args, err, errb.String())
		}
		ts = append(ts, time.Since(t0).Seconds())
	}
	sort.Float64s(ts)
	return ts[len(ts)/2]
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }
