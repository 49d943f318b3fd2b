package kinds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"sort"

	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
)

// CheckpointVersion is the layout of a projection checkpoint. Raise it
// whenever a read model folds differently; Schema also changes with the
// kinds, the event types and versions, and the build.
const CheckpointVersion = 1

// Checkpoint is the projection checkpoint (ARCHITECTURE.md, "Engine
// rules"): the read models of Views and every ceremony's summary, as the
// events up to stream sequence Seq leave them. It holds what the events
// hold, never a secret.
type Checkpoint struct {
	Version    int                      `json:"version"`
	Schema     string                   `json:"schema"`
	Stream     string                   `json:"stream"`
	Seq        uint64                   `json:"seq"`
	SeqHash    string                   `json:"seq_hash"` // the hash of the event at Seq: the checkpoint is of this history
	Ceremonies []engine.CeremonySummary `json:"ceremonies"`
	Inventory  inventory.State          `json:"inventory"`
	Pending    []health.Pending         `json:"pending"`
	Accounts   []account.Account        `json:"accounts"`
}

// Schema names what a checkpoint's content depends on: the checkpoint
// layout, the kinds, the event types at their current versions, and the
// build (a new binary replays once, then writes its own checkpoint).
func Schema() string {
	h := sha256.New()
	fmt.Fprintf(h, "checkpoint v%d\n", CheckpointVersion)
	for _, k := range List() {
		fmt.Fprintf(h, "kind %s\n", k.Name())
	}
	reg := Registry()
	for _, t := range reg.Types() {
		v, _ := reg.CurrentVersion(t)
		fmt.Fprintf(h, "type %s v%d\n", t, v)
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		var vcs []string
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.modified" {
				vcs = append(vcs, s.Key+"="+s.Value)
			}
		}
		sort.Strings(vcs)
		fmt.Fprintf(h, "build %s %s %v\n", bi.Main.Path, bi.Main.Version, vcs)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// Checkpoint returns the checkpoint of these views, which eng feeds: its
// ceremonies and the stream sequence it applied (eng.Applied(), whose
// event's hash is seqHash). Call it when nothing records or follows: the
// views then hold exactly the events up to that sequence.
func (v *Views) Checkpoint(stream string, eng *engine.Engine, seqHash string) Checkpoint {
	return Checkpoint{
		Version: CheckpointVersion, Schema: Schema(), Stream: stream, Seq: eng.Applied(), SeqHash: seqHash,
		Ceremonies: eng.Ceremonies(), Inventory: v.Inventory.State(), Pending: v.Health.State(), Accounts: v.Accounts.List(),
	}
}

// Encode returns the checkpoint's bytes (JSON).
func (c Checkpoint) Encode() ([]byte, error) {
	b, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encode the projection checkpoint: %w", err)
	}
	return b, nil
}

// DecodeCheckpoint reads a checkpoint of stream. A checkpoint of another
// version, schema or stream, or one that does not decode strictly, is an
// error saying which: the caller replays the whole stream instead.
func DecodeCheckpoint(data []byte, stream string) (Checkpoint, error) {
	var c Checkpoint
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(&c); err != nil {
		return Checkpoint{}, fmt.Errorf("projection checkpoint does not decode: %w", err)
	}
	if d.More() {
		return Checkpoint{}, fmt.Errorf("projection checkpoint: data after its end")
	}
	switch {
	case c.Version != CheckpointVersion:
		return Checkpoint{}, fmt.Errorf("projection checkpoint version %d, this build reads %d", c.Version, CheckpointVersion)
	case c.Schema != Schema():
		return Checkpoint{}, fmt.Errorf("projection checkpoint made by another build or set of kinds (schema %.12s)", c.Schema)
	case c.Stream != stream:
		return Checkpoint{}, fmt.Errorf("projection checkpoint of stream %q, not %q", c.Stream, stream)
	}
	return c, nil
}

// Restore returns views holding the checkpoint's read models; events up to
// c.Seq count as applied.
func (c Checkpoint) Restore() *Views {
	v := NewViews()
	v.Inventory = inventory.Restore(c.Inventory)
	v.Health.Restore(c.Pending)
	v.Accounts.Restore(c.Accounts)
	v.floor = c.Seq
	return v
}

// Baseline returns what the engine needs of the checkpoint (OpenFrom).
func (c Checkpoint) Baseline() engine.Baseline {
	return engine.Baseline{Seq: c.Seq, Ceremonies: c.Ceremonies}
}
