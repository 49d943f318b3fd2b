package export_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/export/exporttest"
)

// writeExport writes an export of n generated events into a new directory.
func writeExport(t *testing.T, n int, s exporttest.Signer) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "exp")
	exporttest.Write(t, dir, n, s)
	return dir
}

// TestVerifyStopsWithItsContext: a verify whose context ends stops with
// the context's error, not a verdict on the export.
func TestVerifyStopsWithItsContext(t *testing.T) {
	s := exporttest.NewSigner(t)
	dir := writeExport(t, 3000, s)
	if _, err := export.Verify(context.Background(), dir, s.Public()); err != nil {
		t.Fatalf("the export does not verify: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := export.Verify(ctx, dir, s.Public())
	if !errors.Is(err, context.Canceled) || errors.Is(err, export.ErrInvalid) {
		t.Fatalf("verify with an ended context: %v; want context.Canceled, no verdict", err)
	}
}

// TestVerifyBoundsALine: a line longer than export.MaxLine is refused
// without being gathered (a regular file of zeros, as a sparse file or a
// copy of /dev/zero would be).
func TestVerifyBoundsALine(t *testing.T) {
	s := exporttest.NewSigner(t)
	dir := writeExport(t, 10, s)
	f, err := os.OpenFile(filepath.Join(dir, export.JSONLFile), os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(1 << 30); err != nil { // sparse: 1 GiB of zeros, no newline
		t.Fatal(err)
	}
	f.Close()
	_, err = export.Verify(context.Background(), dir, s.Public())
	if !errors.Is(err, export.ErrInvalid) || !strings.Contains(err.Error(), "events.jsonl: a line longer than 1024 KiB") {
		t.Fatalf("verify of a file of zeros: %v", err)
	}
}

// TestWriterNeedsANewOrEmptyDirectory: NewWriter refuses a directory that
// holds anything.
func TestWriterNeedsANewOrEmptyDirectory(t *testing.T) {
	s := exporttest.NewSigner(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "x"), nil, 0o644)
	if _, err := export.NewWriter(dir, export.Filter{}, "test", time.Now(), s); err == nil || !strings.Contains(err.Error(), "is not empty") {
		t.Fatalf("NewWriter into a non-empty directory: %v", err)
	}
	if _, err := export.NewWriter(t.TempDir(), export.Filter{}, "test", time.Now(), s); err != nil {
		t.Fatalf("NewWriter into an empty directory: %v", err)
	}
}
