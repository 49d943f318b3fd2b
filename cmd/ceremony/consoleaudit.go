package main

import (
	"archive/tar"
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/events/export"
)

// The console's audit routes: a ceremony's report, the signed export of
// the whole stream, the newest signed checkpoint of the transparency log.

func (c *console) Report(ctx context.Context, id string, w io.Writer) error {
	if _, err := c.instance(id); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "ceremony-report-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	file := filepath.Join(dir, "report.html")
	if err := cmdReport(ctx, c.a, id, file, "", io.Discard); err != nil {
		return err
	}
	b, err := os.ReadFile(file)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Export writes a signed export (events.jsonl, events.csv, manifest.json)
// as a tar stream; 'ceremony audit verify' checks it with the public key
// the service prints at start. The export is written to a temporary
// directory in one pass (export.Writer), then each file is copied into
// the tar: memory does not grow with the number of events.
func (c *console) Export(ctx context.Context, w io.Writer) error {
	dir, err := os.MkdirTemp("", "ceremony-export-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "export")
	ew, err := export.NewWriter(out, export.Filter{}, toolVersion, time.Now(), c.signer)
	if err != nil {
		return err
	}
	if err := c.a.store.Replay(ctx, 1, ew.Add); err != nil {
		return fmt.Errorf("export: read the event store: %w", err)
	}
	if _, err := ew.Close(); err != nil {
		return err
	}
	entries, err := os.ReadDir(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(w)
	for _, e := range entries {
		if err := tarFile(tw, filepath.Join(out, e.Name())); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	return tw.Close()
}

// tarFile copies the file at path into tw under its base name.
func tarFile(tw *tar.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return err
	}
	if err := tw.WriteHeader(&tar.Header{Name: filepath.Base(path), Mode: 0o644, Size: info.Size(), ModTime: time.Now()}); err != nil {
		return err
	}
	_, err = io.Copy(tw, f)
	return err
}

// exportPublicKey is the hex public key 'ceremony audit verify' takes.
func (c *console) exportPublicKey() string { return hex.EncodeToString(c.signer.Public()) }

// Checkpoint brings the transparency log up to the stream and returns
// its newest signed checkpoint with the witnesses' co-signatures, or one
// signed now when none stored covers every event (translog.Log.Current).
func (c *console) Checkpoint(ctx context.Context) ([]byte, error) {
	if c.tlog == nil {
		return nil, fmt.Errorf("%w: this station keeps no checkpoints (no audit key: 'ceremony audit key --create' makes one, or give serve --hsm pkcs11)", web.ErrNotFound)
	}
	c.tlogMu.Lock()
	defer c.tlogMu.Unlock()
	if err := c.tlog.Sync(ctx, c.a.store); err != nil {
		return nil, fmt.Errorf("the event store's history: %w", err)
	}
	_, signed, _, err := c.tlog.Current()
	if err != nil {
		return nil, fmt.Errorf("the checkpoint: %w", err)
	}
	return signed, nil
}
