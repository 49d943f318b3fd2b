package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/keyfile"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

const corruptionDir = "../../testdata/corruption-matrix"

// msgsDir is where the embedded server keeps the event stream's blocks.
func msgsDir(data string) string {
	return filepath.Join(data, "jetstream", "jetstream", "$G", "streams", jetstream.DefaultStream, "msgs")
}

// smallBlockStore makes a data directory whose event stream spans at
// least three message blocks. The server sizes blocks from the stream's
// limits when it starts: a stream made with a byte limit of 127,000 gets
// its smallest blocks (32 kB). Rehearsals fill an ordinary store; its
// events (subjects, bytes, message ids) are copied in order into such a
// stream, up to 90,000 bytes, then the limit is lifted so that the
// stream has the store's settings. A signed checkpoint and the tree's
// hashes cover every event.
func smallBlockStore(t *testing.T) (data string, size int64) {
	t.Helper()
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	if code, out := runIn(t, "audit", "key", "--create"); code != exitOK {
		t.Fatalf("audit key --create: %d\n%s", code, out)
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "source")
	for i := 0; i < 4; i++ {
		if code, out := runIn(t, "rehearse", "--data-dir", src, "--cards-dir", filepath.Join(dir, "cards"), "--id", fmt.Sprintf("drill-%d", i)); code != exitOK {
			t.Fatalf("rehearse: %d\n%s", code, out)
		}
	}
	ctx := context.Background()
	from, fromJS := rawServer(t, src)
	fromStream, err := fromJS.Stream(ctx, jetstream.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	data = filepath.Join(dir, "data")
	to, js := rawServer(t, data)
	cfg := natsjs.StreamConfig{Name: jetstream.DefaultStream, Description: "ceremony events: append-only audit history", Subjects: []string{"ceremony.>"},
		Storage: natsjs.FileStorage, Replicas: 1, MaxConsumers: -1, MaxMsgs: -1, MaxBytes: 127_000, MaxMsgsPerSubject: -1, DenyDelete: true, DenyPurge: true}
	stream, err := js.CreateStream(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	for seq, total := uint64(1), uint64(0); total < 90_000; seq++ {
		m, err := fromStream.GetMsg(ctx, seq)
		if err != nil {
			t.Fatalf("source sequence %d (%d bytes copied): %v", seq, total, err)
		}
		if _, err := js.PublishMsg(ctx, &nats.Msg{Subject: m.Subject, Data: m.Data, Header: m.Header}); err != nil {
			t.Fatal(err)
		}
		info, err := stream.Info(ctx)
		if err != nil || info.State.FirstSeq != 1 {
			t.Fatalf("the small-block stream: %+v, %v", info.State, err)
		}
		total = info.State.Bytes
	}
	cfg.MaxBytes = -1
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	from()
	to()
	if code, out := runIn(t, "list", "--data-dir", data); code != exitOK {
		t.Fatalf("list: %d\n%s", code, out) // also makes the leases' bucket
	}
	if n := len(blocks(t, data)); n < 3 {
		t.Fatalf("%d message blocks: want 3 or more", n)
	}
	keyPath, _ := defaultKeyFile()
	signer, _, err := keyfile.LoadOrCreate(keyPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := jetstream.Open(ctx, jetstream.Config{DataDir: data})
	if err != nil {
		t.Fatal(err)
	}
	c, _, _, err := translog.NewLog(data, st.StreamName(), signer).Checkpoint(ctx, st, time.Now())
	if cerr := st.Close(); err != nil || cerr != nil {
		t.Fatal(err, cerr)
	}
	return data, c.Size
}

// rawServer starts a bare nats-server on a data directory's store.
func rawServer(t *testing.T, data string) (stop func(), js natsjs.JetStream) {
	t.Helper()
	srv, err := server.NewServer(&server.Options{JetStream: true, StoreDir: filepath.Join(data, "jetstream"), DontListen: true, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	srv.Start()
	if !srv.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	nc, err := nats.Connect("", nats.InProcessServer(srv))
	if err != nil {
		t.Fatal(err)
	}
	js, _ = natsjs.New(nc)
	return func() { nc.Close(); srv.Shutdown(); srv.WaitForShutdown() }, js
}

// blocks returns the stream's message block files in order.
func blocks(t *testing.T, data string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(msgsDir(data), "*.blk"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(m, func(i, j int) bool {
		var a, b int
		fmt.Sscanf(filepath.Base(m[i]), "%d.blk", &a)
		fmt.Sscanf(filepath.Base(m[j]), "%d.blk", &b)
		return a < b
	})
	return m
}

// records returns the offsets of a block's records (nats-server's
// filestore: a 22-byte header whose first 4 bytes are the record length).
func records(t *testing.T, blk string) []int {
	t.Helper()
	b, err := os.ReadFile(blk)
	if err != nil {
		t.Fatal(err)
	}
	var offs []int
	for i := 0; i+22 <= len(b); {
		offs = append(offs, i)
		i += int(binary.LittleEndian.Uint32(b[i:]) &^ (1 << 31))
	}
	return offs
}

// A damage of the files, applied to a copy of the store.
type corruption struct {
	name string
	do   func(t *testing.T, data string) string // returns the file it damaged (relative to data)
}

func flipAt(part string, which int, at func(b []byte, rec int) int) func(*testing.T, string) string {
	return func(t *testing.T, data string) string {
		bl := blocks(t, data)
		blk := bl[[]int{0, len(bl) / 2, len(bl) - 1}[which]]
		offs := records(t, blk)
		rec := offs[len(offs)/2]
		b, _ := os.ReadFile(blk)
		i := at(b, rec)
		b[i] ^= 0x10
		writeBack(t, blk, b)
		rel, _ := filepath.Rel(data, blk)
		return fmt.Sprintf("%s (%s of record %d of %d)", rel, part, len(offs)/2+1, len(offs))
	}
}

func writeBack(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func corruptions() []corruption {
	payload := func(b []byte, rec int) int { return rec + 22 + int(binary.LittleEndian.Uint16(b[rec+20:])) + 40 }
	header := func(b []byte, rec int) int { return rec + 12 } // the record's time
	length := func(b []byte, rec int) int { return rec + 1 }
	var cs []corruption
	for i, where := range []string{"first", "middle", "last"} {
		cs = append(cs,
			corruption{"byte flipped in a payload, " + where + " block", flipAt("payload", i, payload)},
			corruption{"byte flipped in a record header, " + where + " block", flipAt("header", i, header)},
			corruption{"byte flipped in a length field, " + where + " block", flipAt("length", i, length)},
		)
	}
	middle := func(t *testing.T, data string) string { bl := blocks(t, data); return bl[len(bl)/2] }
	rel := func(data, p string) string { r, _ := filepath.Rel(data, p); return r }
	cs = append(cs,
		corruption{"truncated block (middle, cut in half)", func(t *testing.T, data string) string {
			blk := middle(t, data)
			fi, _ := os.Stat(blk)
			os.Truncate(blk, fi.Size()/2)
			return rel(data, blk)
		}},
		corruption{"spliced block (the first half of the middle block joined to the second half of the last)", func(t *testing.T, data string) string {
			bl := blocks(t, data)
			mid, last := bl[len(bl)/2], bl[len(bl)-1]
			a, _ := os.ReadFile(mid)
			b, _ := os.ReadFile(last)
			ao, bo := records(t, mid), records(t, last)
			writeBack(t, mid, append(append([]byte{}, a[:ao[len(ao)/2]]...), b[bo[len(bo)/2]:]...))
			return rel(data, mid)
		}},
		corruption{"a stale record (of the first block) inserted into the middle block", func(t *testing.T, data string) string {
			bl := blocks(t, data)
			first, _ := os.ReadFile(bl[0])
			fo := records(t, bl[0])
			rec := first[fo[1]:fo[2]]
			blk := bl[len(bl)/2]
			b, _ := os.ReadFile(blk)
			mo := records(t, blk)
			at := mo[len(mo)/2]
			spliced := append(append(append([]byte{}, b[:at]...), rec...), b[at:]...)
			writeBack(t, blk, spliced)
			return rel(data, blk)
		}},
		corruption{"empty block (the middle one, 0 bytes)", func(t *testing.T, data string) string {
			blk := middle(t, data)
			os.Truncate(blk, 0)
			return rel(data, blk)
		}},
		corruption{"missing newest block", func(t *testing.T, data string) string {
			bl := blocks(t, data)
			os.Remove(bl[len(bl)-1])
			return rel(data, bl[len(bl)-1])
		}},
		corruption{"deleted index (msgs/index.db)", func(t *testing.T, data string) string {
			p := filepath.Join(msgsDir(data), "index.db")
			os.Remove(p)
			return rel(data, p)
		}},
		corruption{"deleted meta file (meta.inf)", func(t *testing.T, data string) string {
			p := filepath.Join(filepath.Dir(msgsDir(data)), "meta.inf")
			os.Remove(p)
			return rel(data, p)
		}},
		corruption{"deleted checksum file (meta.sum)", func(t *testing.T, data string) string {
			p := filepath.Join(filepath.Dir(msgsDir(data)), "meta.sum")
			os.Remove(p)
			return rel(data, p)
		}},
	)
	return cs
}

// TestCorruptionMatrix damages a copy of a store of several message
// blocks in every way the table lists, then runs a read command ('list')
// and 'audit verify-store' on it. Every case ends (a) detected: the
// command refuses (exit 6) with a message naming the damage, and no file
// of the data directory changed (file hashes); or (b) healed: the command
// succeeds, verify-store proves the whole checkpointed history is there,
// and only the server's index changed. Silence (success with history
// lost, or a changed file) fails. The table is generated into
// testdata/corruption-matrix (UPDATE_GOLDEN=1 rewrites it).
func TestCorruptionMatrix(t *testing.T) {
	base, size := smallBlockStore(t)
	nblk := len(blocks(t, base))
	var table strings.Builder
	table.WriteString("# Corruption matrix\n\n")
	fmt.Fprintf(&table, "Generated by `TestCorruptionMatrix` (cmd/ceremony): a store of %d message blocks (rehearsals; the tree's hashes and a signed checkpoint cover every event) is damaged as each row says, then `ceremony list` runs on it. Detected: refused with exit 6 and the message shown, every file byte for byte as it was. Healed: served, `audit verify-store` proves all the checkpointed events are there, only the files named changed. Byte counts are written `N` (event sizes vary between runs). The numbers (records, sequences) are this run's: events differ by a few bytes between runs, so the check compares the table with its numbers left out. Regenerate with `UPDATE_GOLDEN=1 go test ./cmd/ceremony -run TestCorruptionMatrix`.\n\n", nblk)
	table.WriteString("| damage | file | outcome | message | files changed |\n| --- | --- | --- | --- | --- |\n")
	for _, c := range corruptions() {
		data := filepath.Join(t.TempDir(), "data")
		if out, err := exec.Command("cp", "-a", base, data).CombinedOutput(); err != nil {
			t.Fatalf("copy the store: %v\n%s", err, out)
		}
		file := c.do(t, data)
		before := storeDigest(t, data)
		code, out := runIn(t, "list", "--data-dir", data)
		changed := diffDigests(before, storeDigest(t, data))
		var outcome, msg string
		switch code {
		case exitAltered:
			outcome = "detected"
			msg = damageLine(out, data)
			if len(changed) > 0 {
				t.Errorf("%s: refused but changed files: %v", c.name, changed)
			}
			if !strings.Contains(out, "damaged") || !strings.Contains(out, "restore") {
				t.Errorf("%s: the refusal does not name the damage and what to do:\n%s", c.name, out)
			}
		case exitOK:
			outcome = "healed"
			vcode, vout := runIn(t, "audit", "verify-store", "--data-dir", data)
			if vcode != exitOK || !strings.Contains(vout, fmt.Sprintf("%d events", size)) {
				t.Errorf("%s: SILENT: list succeeded but verify-store says (exit %d):\n%s", c.name, vcode, vout)
			}
			for _, f := range changed {
				// The server rebuilds its index from the blocks; the seal
				// records the files as an orderly shutdown left them.
				if !strings.HasSuffix(f, "index.db") && !strings.HasSuffix(f, "store-seal.json") {
					t.Errorf("%s: healed but changed %s", c.name, f)
				}
			}
			msg = "(served; verify-store: all " + fmt.Sprint(size) + " events)"
		default:
			t.Errorf("%s: exit %d, neither refused as damaged (%d) nor served:\n%s", c.name, code, exitAltered, out)
			outcome, msg = fmt.Sprintf("exit %d", code), damageLine(out, data)
		}
		files := "none"
		if len(changed) > 0 {
			files = strings.ReplaceAll(strings.Join(changed, ", "), data+"/", "")
		}
		fmt.Fprintf(&table, "| %s | `%s` | %s | %s | %s |\n", c.name, file, outcome, strings.ReplaceAll(msg, "|", "\\|"), files)
	}
	// Compared with every number written N: events differ by a few bytes
	// between runs (their times), so a record near a block's end moves to
	// the next block, and with it the record and sequence numbers.
	goldenAs(t, filepath.Join(corruptionDir, "jetstream-files.md"), table.String(), func(s string) string { return digits.ReplaceAllString(s, "N") })
}

var (
	byteCounts = regexp.MustCompile(`\b\d+ bytes|offset \d+|from \d+ to \d+ bytes|\(\d+ bytes, then \d+\)`)
	digits     = regexp.MustCompile(`\d+`)
	cpName     = regexp.MustCompile(`\d{12}-\d{8}T\d{6}\.\d+Z\.checkpoint`)
)

// damageLine is the refusal's message with the data directory written
// DATA and byte counts N.
func damageLine(out, data string) string {
	line := strings.TrimSpace(out)
	if i := strings.Index(line, "Error: "); i >= 0 {
		line = line[i+len("Error: "):]
	}
	line = strings.ReplaceAll(line, data, "DATA")
	line = cpName.ReplaceAllString(line, "CHECKPOINT")
	line = byteCounts.ReplaceAllStringFunc(line, func(s string) string { return digits.ReplaceAllString(s, "N") })
	line = strings.ReplaceAll(line, "\n", " ")
	return line
}

var _ = bytes.MinRead
