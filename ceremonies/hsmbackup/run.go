package hsmbackup

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// ErrRefused means the ceremony ended failed for a reason it recorded.
var ErrRefused = errors.New("refused")

// RunBackup runs an hsm-backup ceremony with id: it wraps every key marked
// for backup under the loaded Backup Key and writes path. now stamps the
// file.
func RunBackup(ctx context.Context, eng *engine.Engine, v Vault, id, operator, path string, now time.Time) (*engine.Instance, error) {
	if err := eng.Leases().Acquire("hsm:"+v.Name(), id); err != nil {
		return nil, err
	}
	defer eng.Leases().ReleaseAll(id)
	if _, err := os.Stat(path); err == nil {
		return nil, fmt.Errorf("%s exists: a backup is never overwritten; choose another name", path)
	}
	inst, err := eng.Start(ctx, KindBackup, id, events.SourceOperator, &events.BackupStarted{Operator: operator, HSM: v.Name(), File: path})
	if err != nil {
		return nil, err
	}
	fail := func(reason, recovery string) (*engine.Instance, error) {
		if err := inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery}); err != nil {
			return inst, err
		}
		return inst, fmt.Errorf("%w: %s", ErrRefused, reason)
	}
	_, kcv, found, err := v.BackupKey(ctx)
	if err != nil {
		return fail(fmt.Sprintf("reading the Backup Key of %s: %v", v.Name(), err), "check the HSM and run the backup again")
	}
	if !found {
		return fail(fmt.Sprintf("%s holds no Backup Key: nothing can leave it encrypted", v.Name()), "load the Backup Key first (ceremony load), then back up")
	}
	keys, skipped, err := v.KeysForBackup(ctx)
	if err != nil {
		return fail(fmt.Sprintf("listing the keys of %s: %v", v.Name(), err), "check the HSM and run the backup again")
	}
	for _, s := range skipped {
		if err := inst.Record(ctx, events.SourceHSM, &events.KeySkipped{Label: s.Key.Label, ID: hex.EncodeToString(s.Key.ID), Reason: s.Reason}); err != nil {
			return inst, err
		}
	}
	f := &File{Format: fileFormat, Version: fileVersion, Created: now.UTC(), Ceremony: id, HSM: v.Name(), BackupKeyKCV: kcv, Mechanism: Mechanism}
	for _, k := range keys {
		wrapped, err := v.WrapKey(ctx, k)
		if err != nil {
			return fail(fmt.Sprintf("wrapping key %q: %v", k.Label, err), "check the key's attributes and run the backup again; no file was written")
		}
		f.Keys = append(f.Keys, entryOf(k, wrapped))
		if err := inst.Record(ctx, events.SourceHSM, &events.KeyWrapped{Label: k.Label, ID: hex.EncodeToString(k.ID), Class: k.Class, KeyType: k.KeyType}); err != nil {
			return inst, err
		}
	}
	b, err := f.Encode()
	if err != nil {
		return fail(fmt.Sprintf("encoding the backup: %v", err), "report this as a bug")
	}
	if err := writeNew(path, b); err != nil {
		return fail(err.Error(), "choose a writable path that does not exist and run the backup again")
	}
	return inst, inst.Record(ctx, events.SourceEngine, &events.BackupWritten{File: path, SHA256: sha256Hex(b), Keys: len(f.Keys), BackupKeyKCV: kcv})
}

// RunRestore runs an hsm-restore ceremony with id: it checks that the HSM's
// Backup Key is the one the file was made under, then unwraps each key.
func RunRestore(ctx context.Context, eng *engine.Engine, v Vault, id, operator, path string) (*engine.Instance, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read the backup: %w", err)
	}
	f, err := DecodeFile(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if err := eng.Leases().Acquire("hsm:"+v.Name(), id); err != nil {
		return nil, err
	}
	defer eng.Leases().ReleaseAll(id)
	inst, err := eng.Start(ctx, KindRestore, id, events.SourceOperator, &events.RestoreStarted{Operator: operator, HSM: v.Name(), File: path, SHA256: sha256Hex(b), BackupKeyKCV: f.BackupKeyKCV})
	if err != nil {
		return nil, err
	}
	fail := func(reason, recovery string) (*engine.Instance, error) {
		if err := inst.Record(ctx, events.SourceEngine, &events.CeremonyFailed{Reason: reason, Recovery: recovery}); err != nil {
			return inst, err
		}
		return inst, fmt.Errorf("%w: %s", ErrRefused, reason)
	}
	_, kcv, found, err := v.BackupKey(ctx)
	switch {
	case err != nil:
		return fail(fmt.Sprintf("reading the Backup Key of %s: %v", v.Name(), err), "check the HSM and run the restore again")
	case !found:
		return fail(fmt.Sprintf("%s holds no Backup Key; the backup was made under the Backup Key with KCV %s", v.Name(), f.BackupKeyKCV),
			"load that Backup Key first (ceremony load with its cards), then restore")
	case kcv != f.BackupKeyKCV:
		return fail(fmt.Sprintf("%s holds the Backup Key with KCV %s, the backup was made under KCV %s", v.Name(), kcv, f.BackupKeyKCV),
			"restore on an HSM loaded with the Backup Key of this backup")
	}
	var restored, failed int
	for _, e := range f.Keys {
		k, wrapped, _ := e.Key() // checked by DecodeFile
		if err := inst.Record(ctx, events.SourceEngine, &events.KeyRestoreRequested{Label: k.Label, ID: e.ID}); err != nil {
			return inst, err
		}
		if err := v.UnwrapKey(ctx, k, wrapped); err != nil {
			failed++
			if err := inst.Record(ctx, events.SourceHSM, &events.KeyRestoreFailed{Label: k.Label, ID: e.ID, Error: err.Error()}); err != nil {
				return inst, err
			}
			continue
		}
		restored++
		if err := inst.Record(ctx, events.SourceHSM, &events.KeyRestored{Label: k.Label, ID: e.ID, Class: k.Class, KeyType: k.KeyType}); err != nil {
			return inst, err
		}
	}
	if err := inst.Record(ctx, events.SourceEngine, &events.RestoreCompleted{Restored: restored, Failed: failed}); err != nil {
		return inst, err
	}
	if failed > 0 {
		return inst, fmt.Errorf("%d of %d keys were not restored: 'ceremony events %s' says why", failed, len(f.Keys), id)
	}
	return inst, nil
}
