package main

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
)

// debugRun runs this package's command line in a subprocess (the test
// binary, as the multi-process tests do) with CEREMONY_DEBUG=1 and
// returns stdout and stderr apart.
func debugRun(t *testing.T, args ...string) (string, string) {
	t.Helper()
	stdout, stderr, code := debugRunCode(t, args...)
	if code != 0 {
		t.Fatalf("%v: exit %d\n%s\n%s", args, code, stdout, stderr)
	}
	return stdout, stderr
}

// debugRunCode is debugRun that returns the exit code instead of
// failing on one.
func debugRunCode(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), debugEnv+"=1", "CEREMONY_TEST_MAIN=1")
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatalf("%v: %v", args, err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// TestASchemaChangeCostsOneReplay: a checkpoint of another schema (a
// build whose kinds or event versions differ; the build itself is not in
// the schema, see kinds TestSchemaIsKindsAndEventVersions) makes list
// replay the whole stream once and save a fresh checkpoint (more than
// readSaveEvents events were applied), which the next list uses; both
// print what list printed from the checkpoint the writer left.
func TestASchemaChangeCostsOneReplay(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(home, "config"))
	data := filepath.Join(t.TempDir(), "data")
	buildOpenStore(t, data, 2000) // 1,900 events, the checkpoint written in this process
	const used = "projection checkpoint: stream sequence 1900, 100 ceremonies"
	want, dbg := debugRun(t, "list", "--data-dir", data)
	if !strings.Contains(dbg, used) && !strings.Contains(dbg, "sealed projection file used: stream sequence 1900") {
		t.Fatalf("list does not use the checkpoint the writer left:\n%s", dbg)
	}

	// A checkpoint of another schema.
	withStore(t, data, func(st *jetstream.Store) {
		ctx := context.Background()
		parts, err := st.LoadProjection(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(parts[kinds.PartMeta], &m); err != nil {
			t.Fatal(err)
		}
		m["schema"] = strings.Repeat("0", 64)
		parts[kinds.PartMeta], _ = json.Marshal(m)
		if err := st.SaveProjection(ctx, parts); err != nil {
			t.Fatal(err)
		}
	})
	got, dbg := debugRun(t, "list", "--data-dir", data)
	if !strings.Contains(dbg, "another set of kinds or event versions") || !strings.Contains(dbg, "replaying the whole stream") ||
		!strings.Contains(dbg, "projection checkpoint saved at stream sequence 1900 (1900 events applied)") {
		t.Fatalf("list on a checkpoint of another schema:\n%s", dbg)
	}
	if got != want {
		t.Errorf("list after a full replay:\n%.1500s\nwant:\n%.1500s", got, want)
	}
	got, dbg = debugRun(t, "list", "--data-dir", data)
	if !strings.Contains(dbg, used) || strings.Contains(dbg, "saved") {
		t.Fatalf("the next list does not use the checkpoint the replay saved:\n%s", dbg)
	}
	if got != want {
		t.Errorf("list from the saved checkpoint:\n%.1500s\nwant:\n%.1500s", got, want)
	}
}
