package main

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
)

// TestConsoleOpensFromTheCheckpoint: a restarted 'serve --http' opens
// the console's engine from the projection checkpoint (the events after
// it only, not the whole stream), lists a ceremony it knows from the
// checkpoint alone with its rehearsal mark (from its ceremony.station,
// kinds.Views.Rehearsal), and loads it from its own events when its page
// is asked for.
func TestConsoleOpensFromTheCheckpoint(t *testing.T) {
	t.Setenv(debugEnv, "1")
	cs := newConsoleSite(t)
	olga, csrf := cs.login(t, "olga")
	code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies", csrf, map[string]any{"kind": "backup-key-generate"})
	if code != http.StatusCreated {
		t.Fatalf("start: %d %v", code, out["_raw"])
	}
	id := out["id"].(string)
	if code, out := cs.apiCall(t, olga, "POST", "/api/v1/ceremonies/"+id+"/abort", csrf, map[string]string{"reason": "checkpoint test"}); code != 200 {
		t.Fatalf("abort: %d %v", code, out["_raw"])
	}
	if err := cs.srv.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := cs.srv.exit(t); code != exitOK {
		t.Fatalf("serve after SIGTERM: exit %d\n%s", code, cs.srv.output())
	}

	cs.serve(t)
	log := cs.srv.output()
	if !strings.Contains(log, "console: opened from the projection checkpoint") {
		t.Fatalf("the restarted console did not open from the projection checkpoint:\n%s", log)
	}
	olga, _ = cs.login(t, "olga")
	code, out = cs.apiCall(t, olga, "GET", "/api/v1/ceremonies", "", nil)
	raw, _ := out["_raw"].(string)
	if code != 200 || !strings.Contains(raw, `"id":"`+id+`"`) {
		t.Fatalf("list after the restart: %d %s", code, raw)
	}
	at := strings.Index(raw, `"id":"`+id+`"`)
	entry := raw[at:]
	if end := strings.Index(entry, "}"); end > 0 {
		entry = entry[:end]
	}
	if !strings.Contains(entry, `"rehearsal":true`) {
		t.Errorf("a rehearsal known from the checkpoint is listed without its mark: %s", entry)
	}
	code, out = cs.apiCall(t, olga, "GET", "/api/v1/ceremonies/"+id, "", nil)
	if raw, _ := out["_raw"].(string); code != 200 || !strings.Contains(raw, `"phase":"aborted"`) || !strings.Contains(raw, `"rehearsal":true`) {
		t.Fatalf("the page of a ceremony known from the checkpoint: %d %s", code, raw)
	}
}
