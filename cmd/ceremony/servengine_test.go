package main

import (
	"context"
	"strings"
	"syscall"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
)

// TestServeFollowsAndCheckpoints: the service's engine follows what other
// processes store and writes the projection checkpoint after every
// --checkpoint-events new events; at SIGTERM it stops in order; list then
// starts from a checkpoint covering the whole stream.
func TestServeFollowsAndCheckpoints(t *testing.T) {
	s := newSite(t)
	srv := s.start("serve", "--checkpoint-events", "1")
	srv.waitFor(t, "engine following the stream from sequence 0 (0 ceremonies)")
	srv.waitFor(t, "clients find it through")
	for i, name := range []string{"olga", "piet"} {
		p := s.start("account", "add", name, "--role", "operator")
		p.send("a-long-password-for-" + name)
		if code := p.exit(t); code != exitOK {
			t.Fatalf("account add %s: exit %d\n%s", name, code, p.output())
		}
		srv.waitFor(t, "projection checkpoint (1 new events) at stream sequence "+string(rune('1'+i)))
	}
	if err := srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := srv.exit(t); code != exitOK || !strings.Contains(srv.output(), "serve: stopped") {
		t.Fatalf("serve after SIGTERM: exit %d\n%s", code, srv.output())
	}
	out := srv.output()
	if a, b := strings.Index(out, "serve: stopping"), strings.Index(out, "serve: stopped"); a < 0 || b < a {
		t.Fatalf("serve's shutdown is out of order:\n%s", out)
	}
	withStore(t, s.dataDir, func(st *jetstream.Store) {
		cp, why := loadCheckpoint(context.Background(), st)
		if cp == nil || cp.Seq != 2 || len(cp.Ceremonies) != 2 || len(cp.Accounts) != 2 {
			t.Fatalf("checkpoint after serve: %+v (%s); want stream sequence 2, two ceremonies and two accounts", cp, why)
		}
	})
	if code, list := s.runCLI(t, "list"); code != exitOK || strings.Count(list, "account-change") != 2 {
		t.Fatalf("list: exit %d\n%s", code, list)
	}
}
