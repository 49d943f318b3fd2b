package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/events/translog"
)

// TestConsoleServesTheCheckpoint: GET /api/v1/checkpoint gives a reader
// the station's signed checkpoint covering every event, which verifies
// under the key recorded in the checkpoints directory; an admin and an
// anonymous caller are refused.
func TestConsoleServesTheCheckpoint(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	var out strings.Builder
	if code := run(context.Background(), []string{"audit", "key", "--create"}, strings.NewReader(""), &out, &out); code != exitOK {
		t.Fatalf("audit key --create: exit %d\n%s", code, out.String())
	}
	cs := newConsoleSite(t)
	get := func(cl *http.Client) (int, string, string) {
		resp, err := cl.Get(cs.url + "api/v1/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	if code, _, body := get(cs.client); code != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d %s", code, body)
	}
	admin, _ := cs.login(t, "ada")
	if code, _, body := get(admin); code != http.StatusForbidden {
		t.Fatalf("admin: %d %s", code, body)
	}
	auditor, _ := cs.login(t, "alan")
	code, ctype, body := get(auditor)
	if code != http.StatusOK || !strings.HasPrefix(ctype, "text/plain") {
		t.Fatalf("auditor: %d %s\n%s", code, ctype, body)
	}
	pub, ok, err := translog.Dir(filepath.Join(cs.dataDir, translog.DirName)).RecordedKey()
	if err != nil || !ok {
		t.Fatalf("no key recorded in the checkpoints directory: %v", err)
	}
	cp, err := translog.Open([]byte(body), pub)
	if err != nil {
		t.Fatalf("the served checkpoint does not verify under the station's key: %v\n%s", err, body)
	}
	if want := int64(len(consoleAccounts)); cp.Size < want {
		t.Fatalf("the checkpoint covers %d events, the store holds at least %d (one per account)", cp.Size, want)
	}
}
