package main

import (
	"bufio"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/ceremony-hsm/ceremony/events/translog"
)

// witnessKey returns the witness public key of a signed sign-off event,
// if env is one.
func witnessKey(typ string, payload json.RawMessage) (ed25519.PublicKey, bool) {
	if typ != (events.Witnessed{}).EventType() {
		return nil, false
	}
	var w events.Witnessed
	if json.Unmarshal(payload, &w) != nil || w.PublicKey == "" {
		return nil, false
	}
	pub, err := hex.DecodeString(w.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return nil, false
	}
	return ed25519.PublicKey(pub), true
}

// checkStoreCosignatures checks every co-signature file in the checkpoints
// directory with the keys of the store's signed sign-offs (C2SP
// tlog-cosignature). A co-signature is made only after a signed sign-off
// is stored, so one by another key was changed too.
func checkStoreCosignatures(dir translog.Dir, recs []events.Record, out io.Writer) error {
	var keys []ed25519.PublicKey
	for _, r := range recs {
		if k, ok := witnessKey(r.Type, r.Envelope.Payload); ok {
			keys = append(keys, k)
		}
	}
	n, unknown, err := dir.CheckCosignatureFiles(keys)
	if err == nil && len(unknown) > 0 {
		err = fmt.Errorf("co-signature %s is by a witness key that no signed sign-off in the store records: the file was changed, or was not made by 'ceremony witness'", strings.Join(unknown, ", "))
	}
	if err != nil {
		return &codeError{exitAltered, fmt.Errorf("%w; a co-signature file is never rewritten: restore it from a backup ('ceremony store backup' keeps the checkpoints directory) or have the witness co-sign again", err)}
	}
	if n > 0 {
		fmt.Fprintf(out, "OK: %d witness co-signature(s) of the checkpoints verify with the keys of the signed sign-offs\n", n)
	}
	return nil
}

// checkExportCosignatures checks the co-signature lines of the export's
// checkpoint with the keys of the export's signed sign-offs. A line by a
// witness whose sign-off is not in the export (an export of another
// ceremony) cannot be checked here and is said so.
func checkExportCosignatures(dir string, out io.Writer) error {
	signed, err := os.ReadFile(filepath.Join(dir, export.CheckpointFile))
	if err != nil {
		return &codeError{exitAltered, fmt.Errorf("read the export's checkpoint: %w", err)}
	}
	f, err := os.Open(filepath.Join(dir, export.JSONLFile))
	if err != nil {
		return &codeError{exitAltered, fmt.Errorf("read the export's events: %w", err)}
	}
	defer f.Close()
	var keys []ed25519.PublicKey
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<16), 1<<20)
	for sc.Scan() {
		var env struct {
			Type    string          `json:"type"`
			Payload json.RawMessage `json:"payload"`
		}
		if json.Unmarshal(sc.Bytes(), &env) == nil {
			if k, ok := witnessKey(env.Type, env.Payload); ok {
				keys = append(keys, k)
			}
		}
	}
	if err := sc.Err(); err != nil {
		return &codeError{exitAltered, fmt.Errorf("read the export's events: %w", err)}
	}
	n, unknown, err := translog.CheckCosignatures(signed, keys)
	if err != nil {
		return &codeError{exitAltered, fmt.Errorf("%s: %w", export.CheckpointFile, err)}
	}
	if n > 0 {
		fmt.Fprintf(out, "OK: %d witness co-signature(s) of the checkpoint verify with the keys of the export's signed sign-offs\n", n)
	}
	for _, name := range unknown {
		fmt.Fprintf(out, "Note: the checkpoint's co-signature by %s is not checked: that witness's sign-off is not in this export (give its key with --witness-key)\n", name)
	}
	return nil
}
