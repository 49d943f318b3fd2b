package jetstream

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	natsjs "github.com/nats-io/nats.go/jetstream"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/storetest"
)

// openTest opens a SyncAlways store on dir and closes it at the end of the test.
func openTest(t testing.TB, dir string) *Store {
	t.Helper()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open(%s): %v", dir, err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// appendChain appends the next n events of c to s, the first after stream
// sequence last, and returns the sequence of the last one appended.
func appendChain(t testing.TB, s *Store, c *storetest.Chain, last uint64, n int) uint64 {
	t.Helper()
	for range n {
		id, data := c.Next(t)
		var err error
		if last, err = s.Append(t.Context(), c.CeremonyID, id, last, data); err != nil {
			t.Fatalf("append %s: %v", id, err)
		}
	}
	return last
}

func TestStoreAcceptance(t *testing.T) {
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, dir string) events.Store {
			s, err := Open(t.Context(), Config{DataDir: dir, Sync: SyncAlways})
			if err != nil {
				t.Fatalf("Open(%s): %v", dir, err)
			}
			return s
		},
		Close: func(t *testing.T, s events.Store) {
			if err := s.(*Store).Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
		},
		Follows: true,
	})
}

func TestStreamConfigIsAppendOnly(t *testing.T) {
	s := openTest(t, t.TempDir())
	info, err := s.stream.Info(t.Context())
	if err != nil {
		t.Fatalf("stream info: %v", err)
	}
	c := info.Config
	if c.Name != DefaultStream || len(c.Subjects) != 1 || c.Subjects[0] != "ceremony.>" {
		t.Errorf("stream %s subjects %q, want %s [ceremony.>]", c.Name, c.Subjects, DefaultStream)
	}
	if c.Storage != natsjs.FileStorage || c.Retention != natsjs.LimitsPolicy {
		t.Errorf("storage %s retention %s, want file and limits", c.Storage, c.Retention)
	}
	if !c.DenyDelete || !c.DenyPurge {
		t.Errorf("deny_delete %v deny_purge %v, want both true", c.DenyDelete, c.DenyPurge)
	}
	if c.MaxAge != 0 || c.MaxBytes > 0 || c.MaxMsgs > 0 || c.MaxMsgsPerSubject > 0 {
		t.Errorf("limits max_age %s max_bytes %d max_msgs %d max_msgs_per_subject %d, want none",
			c.MaxAge, c.MaxBytes, c.MaxMsgs, c.MaxMsgsPerSubject)
	}
	if err := checkStreamConfig(c, 1); err != nil {
		t.Errorf("checkStreamConfig of the stream Open created: %v", err)
	}
	if !s.srv.JetStreamConfig().SyncAlways || s.Sync() != SyncAlways {
		t.Errorf("server sync_always %v, Sync() %s; want fsync on every write by default", s.srv.JetStreamConfig().SyncAlways, s.Sync())
	}

	// The server enforces it: no delete, no purge.
	id, data := storetest.NewChain("cer-deny").Next(t)
	seq, err := s.Append(t.Context(), "cer-deny", id, 0, data)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if err := s.stream.DeleteMsg(t.Context(), seq); err == nil {
		t.Error("DeleteMsg on the stream succeeded, want refused")
	}
	if err := s.stream.Purge(t.Context()); err == nil {
		t.Error("Purge of the stream succeeded, want refused")
	}
	if last, err := s.LastSeq(t.Context()); err != nil || last != seq {
		t.Errorf("LastSeq = %d, %v; want %d", last, err, seq)
	}
}

func TestCheckStreamConfigNamesTheSetting(t *testing.T) {
	cases := []struct {
		change func(*natsjs.StreamConfig)
		want   string
	}{
		{func(c *natsjs.StreamConfig) { c.MaxAge = 3600e9 }, "max_age 1h0m0s"},
		{func(c *natsjs.StreamConfig) { c.MaxBytes = 1 << 30 }, "max_bytes"},
		{func(c *natsjs.StreamConfig) { c.MaxMsgs = 1000 }, "max_msgs 1000"},
		{func(c *natsjs.StreamConfig) { c.MaxMsgsPerSubject = 1 }, "max_msgs_per_subject"},
		{func(c *natsjs.StreamConfig) { c.DenyDelete = false }, "deny_delete"},
		{func(c *natsjs.StreamConfig) { c.DenyPurge = false }, "deny_purge"},
		{func(c *natsjs.StreamConfig) { c.Storage = natsjs.MemoryStorage }, "storage"},
		{func(c *natsjs.StreamConfig) { c.Retention = natsjs.WorkQueuePolicy }, "retention"},
		{func(c *natsjs.StreamConfig) { c.Subjects = []string{"other.>"} }, "subjects"},
		{func(c *natsjs.StreamConfig) { c.AllowRollup = true }, "allow_rollup_hdrs"},
		{func(c *natsjs.StreamConfig) { c.AllowMsgTTL = true }, "allow_msg_ttl"},
		{func(c *natsjs.StreamConfig) { c.Sealed = true }, "sealed"},
		{func(c *natsjs.StreamConfig) { c.NoAck = true }, "no_ack"},
		{func(c *natsjs.StreamConfig) { c.PersistMode = natsjs.AsyncPersistMode }, "persist_mode"},
		{func(c *natsjs.StreamConfig) { c.Replicas = 3 }, "replicas 3, want 1 (--replicas 3"},
	}
	for _, c := range cases {
		cfg := wantStreamConfig("CEREMONIES", 1)
		c.change(&cfg)
		err := checkStreamConfig(cfg, 1)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("checkStreamConfig with %s changed: err = %v, want it to name %q", c.want, err, c.want)
		}
	}
	if err := checkStreamConfig(wantStreamConfig("CEREMONIES", 3), 3); err != nil {
		t.Errorf("checkStreamConfig(our own config): %v", err)
	}
}

func TestExistingStreamWithLimitIsRefused(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	cfg := s.stream.CachedInfo().Config
	cfg.MaxAge = 24 * 3600e9
	if _, err := s.js.UpdateStream(t.Context(), cfg); err != nil {
		t.Fatalf("set a max age on the stream: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	s2, err := Open(t.Context(), Config{DataDir: dir})
	if err == nil {
		s2.Close()
		t.Fatal("Open accepted a stream with a max age")
	}
	if !strings.Contains(err.Error(), "max_age 24h0m0s") {
		t.Errorf("Open: %v; want the error to name max_age", err)
	}

	// The stream was not changed: it is still refused.
	_, err = Open(t.Context(), Config{DataDir: dir})
	if err == nil || !strings.Contains(err.Error(), "max_age") {
		t.Errorf("second Open: %v; want the max_age refusal again", err)
	}
}

func TestDataDirIsAFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-dir")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := Open(t.Context(), Config{DataDir: file})
	if err == nil {
		s.Close()
		t.Fatal("Open on a regular file succeeded")
	}
	if !strings.Contains(err.Error(), file) {
		t.Errorf("Open: %v; want the error to name %s", err, file)
	}
}

func TestDataDirInUseIsRefused(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	s2, err := Open(t.Context(), Config{DataDir: dir})
	if err == nil {
		s2.Close()
		t.Fatal("a second store opened a directory in use")
	}
	if !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "in use") {
		t.Errorf("second Open: %v; want it to say the directory is in use", err)
	}
	// The refusal names the holder: this process, its command line, since when.
	for _, want := range []string{fmt.Sprintf("pid %d,", os.Getpid()), "command \"" + os.Args[0], "since 20"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open: %v; want it to name the holder (%q)", err, want)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s3, err := Open(t.Context(), Config{DataDir: dir})
	if err != nil {
		t.Fatalf("Open after the first store closed: %v", err)
	}
	s3.Close()
}

func TestConfigErrors(t *testing.T) {
	seed := testSeed(t)
	openSeed := filepath.Join(t.TempDir(), "open.nk")
	data, _ := os.ReadFile(seed)
	if err := os.WriteFile(openSeed, data, 0o644); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		cfg  Config
		want string
	}{
		{Config{}, "DataDir is empty"},
		{Config{DataDir: t.TempDir(), Sync: SyncMode(7)}, "Config.Sync"},
		{Config{DataDir: t.TempDir(), Listen: "nohostport", NkeySeedFile: seed}, "Config.Listen"},
		{Config{DataDir: t.TempDir(), Listen: "127.0.0.1:99999", NkeySeedFile: seed}, "Config.Listen"},
		{Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0"}, "needs authentication"},
		{Config{DataDir: t.TempDir(), Listen: "0.0.0.0:0", NkeySeedFile: seed}, "loopback only"},
		{Config{DataDir: t.TempDir(), Listen: "127.0.0.1:0", NkeySeedFile: openSeed}, "others may read it"},
		{Config{DataDir: t.TempDir(), Remote: Remote{Replicas: 3}}, "embedded server is one node"},
		{Config{Remote: Remote{URLs: []string{"http://x:1"}}}, "scheme \"http\""},
		{Config{Remote: Remote{URLs: []string{"nats://u:hunter2@x:1"}}}, "give credentials in a file"},
		{Config{Remote: Remote{URLs: []string{"nats://127.0.0.1:1"}}}, "is the server running"},
		{Config{Remote: Remote{URLs: []string{"nats://x:1"}, Replicas: 9}}, "replicas 9"},
		{Config{Remote: Remote{URLs: []string{"nats://x:1"}, TLSCert: "c.pem"}}, "needs both"},
	}
	for _, c := range cases {
		s, err := Open(t.Context(), c.cfg)
		if err == nil {
			s.Close()
			t.Errorf("Open(%+v) succeeded", c.cfg)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("Open(%+v): %v; want it to name %q", c.cfg, err, c.want)
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("Open(%+v): %v shows the URL's password", c.cfg, err)
		}
	}
}

func TestAfterCloseEveryCallFails(t *testing.T) {
	s, err := Open(t.Context(), Config{DataDir: t.TempDir()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	id, data := storetest.NewChain("cer-closed").Next(t)
	if _, err := s.Append(t.Context(), "cer-closed", id, 0, data); !errors.Is(err, ErrClosed) {
		t.Errorf("Append after Close: %v, want ErrClosed", err)
	}
	if _, err := s.Load(t.Context(), "cer-closed"); !errors.Is(err, ErrClosed) {
		t.Errorf("Load after Close: %v, want ErrClosed", err)
	}
	if err := s.Replay(t.Context(), 0, func(events.Record) error { return nil }); !errors.Is(err, ErrClosed) {
		t.Errorf("Replay after Close: %v, want ErrClosed", err)
	}
	if _, err := s.LastSeq(t.Context()); !errors.Is(err, ErrClosed) {
		t.Errorf("LastSeq after Close: %v, want ErrClosed", err)
	}
}

func TestRelaxedSyncAndListener(t *testing.T) {
	seed := testSeed(t)
	s, err := Open(t.Context(), Config{DataDir: t.TempDir(), Sync: SyncRelaxed, Listen: "127.0.0.1:0", NkeySeedFile: seed, Stream: "REHEARSAL"})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer s.Close()
	if s.Sync() != SyncRelaxed || s.StreamName() != "REHEARSAL" {
		t.Errorf("Sync() = %s, StreamName() = %s; want relaxed, REHEARSAL", s.Sync(), s.StreamName())
	}
	if s.srv.JetStreamConfig().SyncAlways {
		t.Error("server sync_always with SyncRelaxed, want the periodic default")
	}
	url := s.ClientURL()
	if url == "" {
		t.Fatal("ClientURL is empty with a listener")
	}
	if nc, err := nats.Connect(url); err == nil {
		nc.Close()
		t.Fatalf("connected to %s without credentials", url)
	}
	nkey, err := nats.NkeyOptionFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	violations := make(chan error, 10)
	nc, err := nats.Connect(url, nkey, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { violations <- err }))
	if err != nil {
		t.Fatalf("connect over TCP to %s with the nkey: %v", url, err)
	}
	defer nc.Close()
	js, err := natsjs.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Stream(t.Context(), "REHEARSAL"); err != nil {
		t.Errorf("stream over TCP: %v", err)
	}
	// The user may use the store's subjects only.
	if err := nc.Publish("other.subject", []byte("x")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-violations:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Errorf("publish outside the store: %v, want a permissions violation", err)
		}
	case <-time.After(10 * time.Second): // liveness bound
		t.Error("publish outside the store's subjects was not refused")
	}
}

// testSeed writes a new user nkey seed file and returns its path.
func testSeed(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "user.nk")
	made, err := CreateNkeySeed(path)
	if err != nil || !made {
		t.Fatalf("CreateNkeySeed: %v, made %v", err, made)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("seed file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if made, err := CreateNkeySeed(path); err != nil || made {
		t.Fatalf("CreateNkeySeed on an existing seed: made %v, %v; want it kept", made, err)
	}
	return path
}

// TestStoreAcceptanceRemote runs the suite through a TCP connection with
// the nkey, to an embedded server with a listener (as 'ceremony serve'
// runs it): the remote path of Open, with the listener's permissions.
func TestStoreAcceptanceRemote(t *testing.T) {
	servers := map[events.Store]*Store{}
	storetest.Run(t, storetest.Factory{
		Open: func(t *testing.T, dir string) events.Store {
			seed := filepath.Join(dir, "user.nk")
			if _, err := CreateNkeySeed(seed); err != nil {
				t.Fatal(err)
			}
			srv, err := Open(t.Context(), Config{DataDir: dir, Listen: "127.0.0.1:0", NkeySeedFile: seed})
			if err != nil {
				t.Fatalf("Open the serving store on %s: %v", dir, err)
			}
			s, err := Open(t.Context(), Config{Remote: Remote{URLs: []string{srv.ClientURL()}}, NkeySeedFile: seed})
			if err != nil {
				srv.Close()
				t.Fatalf("Open remote %s: %v", srv.ClientURL(), err)
			}
			if s.srv != nil {
				t.Error("a remote store started a server")
			}
			servers[s] = srv
			return s
		},
		Close: func(t *testing.T, s events.Store) {
			if err := s.(*Store).Close(); err != nil {
				t.Fatalf("Close remote: %v", err)
			}
			if err := servers[s].Close(); err != nil {
				t.Fatalf("Close the serving store: %v", err)
			}
		},
		Follows: true,
	})
}

func TestNoListenerByDefault(t *testing.T) {
	s := openTest(t, t.TempDir())
	if url := s.ClientURL(); url != "" {
		t.Errorf("ClientURL = %q without Listen, want none", url)
	}
}

func TestLoadRefusesBadCeremonyID(t *testing.T) {
	s := openTest(t, t.TempDir())
	for _, id := range []string{"", "a.b", "a*", "a>", "a b"} {
		if _, err := s.Load(t.Context(), id); err == nil {
			t.Errorf("Load(%q) succeeded, want refused", id)
		}
	}
}

func TestCorruptStoredEventIsAnError(t *testing.T) {
	other, _ := storetest.Event(t, "cer-elsewhere", "elsewhere-1", 1, "")
	bad := []struct {
		name string
		data []byte
		want string
	}{
		{"not an event", []byte("garbage"), "malformed"},
		{"event of another ceremony", other, "ceremony cer-elsewhere"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			s := openTest(t, t.TempDir())
			id, data := storetest.NewChain("cer-corrupt").Next(t)
			if _, err := s.Append(t.Context(), "cer-corrupt", id, 0, data); err != nil {
				t.Fatalf("Append: %v", err)
			}
			// Written around the store's checks, as a foreign writer could.
			ack, err := s.js.Publish(t.Context(), "ceremony.cer-corrupt.test.appended", b.data)
			if err != nil {
				t.Fatalf("raw publish: %v", err)
			}
			seqText := fmt.Sprintf("stream sequence %d", ack.Sequence)

			_, err = s.Load(t.Context(), "cer-corrupt")
			if err == nil || !strings.Contains(err.Error(), seqText) || !strings.Contains(err.Error(), b.want) {
				t.Errorf("Load: %v; want an error naming %q and %q", err, seqText, b.want)
			}
			calls := 0
			err = s.Replay(t.Context(), 0, func(events.Record) error { calls++; return nil })
			if err == nil || !strings.Contains(err.Error(), seqText) {
				t.Errorf("Replay: %v; want an error naming %q", err, seqText)
			}
			if calls != 1 {
				t.Errorf("Replay delivered %d events before the bad one, want 1", calls)
			}
		})
	}
}

// The lock is on the directory, not on a file: deleting the holder file
// while a store runs does not let a second store in.
func TestDeletedLockFileDoesNotLetASecondStoreIn(t *testing.T) {
	dir := t.TempDir()
	s := openTest(t, dir)
	holder := Config{DataDir: dir}.lockFile()
	if err := os.Remove(holder); err != nil {
		t.Fatalf("remove the holder file: %v", err)
	}
	s2, err := Open(t.Context(), Config{DataDir: dir})
	if err == nil {
		s2.Close()
		t.Fatal("a second store opened the directory after the lock file was deleted")
	}
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second Open: %v; want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
}
