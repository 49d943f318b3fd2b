package kinds

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"

	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
)

// CheckpointVersion is the layout of a projection checkpoint and the way
// its read models fold. Raise it whenever a read model folds differently
// or a part is encoded differently: Schema covers it, the kinds and the
// event types at their versions, not the build, so a new binary whose
// read models fold as before keeps using the stored checkpoint.
const CheckpointVersion = 3

// The parts of a checkpoint, stored apart so that a command reads only
// those it shows (ARCHITECTURE.md, "Engine rules"): the meta part (which
// stream, sequence and schema the checkpoint is of) is always read.
const (
	PartMeta       = "meta"       // JSON: version, schema, stream, seq, seq_hash
	PartCeremonies = "ceremonies" // every ceremony's summary (summarycodec.go)
	PartInventory  = "inventory"  // JSON: inventory.State
	PartHealth     = "health"     // JSON: the open side effects
	PartAccounts   = "accounts"   // JSON: the console's accounts
	PartRehearsals = "rehearsals" // JSON: the ids of the ceremonies recorded as rehearsals, sorted
)

// Parts lists every part of a checkpoint but its meta.
var Parts = []string{PartCeremonies, PartInventory, PartHealth, PartAccounts, PartRehearsals}

// Checkpoint is the projection checkpoint (ARCHITECTURE.md, "Engine
// rules"): the read models of Views and every ceremony's summary, as the
// events up to stream sequence Seq leave them. It holds what the events
// hold, never a secret. One decoded from some parts only has the others
// empty (Has says which it holds).
type Checkpoint struct {
	checkpointMeta
	Ceremonies []engine.CeremonySummary
	Inventory  inventory.State
	Pending    []health.Pending
	Accounts   []account.Account
	Rehearsals []string

	has map[string]bool
}

// checkpointMeta is the meta part.
type checkpointMeta struct {
	Version int    `json:"version"`
	Schema  string `json:"schema"`
	Stream  string `json:"stream"`
	Seq     uint64 `json:"seq"`
	SeqHash string `json:"seq_hash"` // the hash of the event at Seq: the checkpoint is of this history
}

// Schema names what a checkpoint's content depends on: the checkpoint
// layout and fold (CheckpointVersion), the kinds, and the event types at
// their current versions. The build is not in it: an upgrade that
// changes none of these reads the checkpoint an older binary wrote.
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
	return hex.EncodeToString(h.Sum(nil))
}

// Checkpoint returns the checkpoint of these views, which eng feeds: its
// ceremonies and the stream sequence it applied (eng.Applied(), whose
// event's hash is seqHash). Call it when nothing records or follows: the
// views then hold exactly the events up to that sequence.
func (v *Views) Checkpoint(stream string, eng *engine.Engine, seqHash string) Checkpoint {
	c := Checkpoint{
		checkpointMeta: checkpointMeta{Version: CheckpointVersion, Schema: Schema(), Stream: stream, Seq: eng.Applied(), SeqHash: seqHash},
		Ceremonies:     eng.Ceremonies(), Inventory: v.Inventory.State(), Pending: v.Health.State(), Accounts: v.Accounts.List(),
		Rehearsals: v.rehearsalIDs(),
		has:        map[string]bool{},
	}
	for _, p := range Parts {
		c.has[p] = true
	}
	return c
}

// Has says whether the checkpoint holds part (one of Parts).
func (c Checkpoint) Has(part string) bool { return c.has[part] }

// Complete says whether the checkpoint holds every part.
func (c Checkpoint) Complete() bool {
	for _, p := range Parts {
		if !c.has[p] {
			return false
		}
	}
	return true
}

// Encode returns the checkpoint's parts by name (PartMeta and Parts).
func (c Checkpoint) Encode() (map[string][]byte, error) {
	if !c.Complete() {
		return nil, fmt.Errorf("encode the projection checkpoint: it was read from some of its parts only")
	}
	out := map[string][]byte{PartCeremonies: encodeSummaries(c.Ceremonies)}
	for name, v := range map[string]any{PartMeta: c.checkpointMeta, PartInventory: c.Inventory, PartHealth: c.Pending, PartAccounts: c.Accounts, PartRehearsals: c.Rehearsals} {
		b, err := json.Marshal(v)
		if err != nil {
			return nil, fmt.Errorf("encode the projection checkpoint's %s: %w", name, err)
		}
		out[name] = b
	}
	return out, nil
}

// DecodeCheckpoint reads a checkpoint of stream from its parts: the meta
// part and those named in want (every part when want is empty). A
// checkpoint of another version, schema or stream, a part missing, or
// one that does not decode strictly, is an error saying which: the
// caller replays the whole stream instead.
func DecodeCheckpoint(parts map[string][]byte, stream string, want ...string) (Checkpoint, error) {
	var c Checkpoint
	var err error
	if c.checkpointMeta, err = decodeMeta(parts, stream); err != nil {
		return Checkpoint{}, err
	}
	if len(want) == 0 {
		want = Parts
	}
	c.has = map[string]bool{}
	for _, name := range want {
		b, ok := parts[name]
		if !ok {
			return Checkpoint{}, fmt.Errorf("projection checkpoint has no %s part", name)
		}
		switch name {
		case PartCeremonies:
			c.Ceremonies, err = decodeSummaries(b)
		case PartInventory:
			err = decodeStrict(b, &c.Inventory)
		case PartHealth:
			err = decodeStrict(b, &c.Pending)
		case PartAccounts:
			err = decodeStrict(b, &c.Accounts)
		case PartRehearsals:
			err = decodeStrict(b, &c.Rehearsals)
		default:
			err = fmt.Errorf("no such part")
		}
		if err != nil {
			return Checkpoint{}, fmt.Errorf("projection checkpoint's %s does not decode: %w", name, err)
		}
		c.has[name] = true
	}
	return c, nil
}

// CheckpointCovers decodes only the meta part of a checkpoint of stream,
// with DecodeCheckpoint's checks, and returns the stream sequence it
// covers and the hash of the event there.
func CheckpointCovers(parts map[string][]byte, stream string) (seq uint64, seqHash string, err error) {
	m, err := decodeMeta(parts, stream)
	return m.Seq, m.SeqHash, err
}

// decodeMeta decodes and checks the meta part.
func decodeMeta(parts map[string][]byte, stream string) (checkpointMeta, error) {
	var m checkpointMeta
	meta, ok := parts[PartMeta]
	if !ok {
		return m, fmt.Errorf("projection checkpoint has no %s part", PartMeta)
	}
	if err := decodeStrict(meta, &m); err != nil {
		return m, fmt.Errorf("projection checkpoint's %s does not decode: %w", PartMeta, err)
	}
	switch {
	case m.Version != CheckpointVersion:
		return m, fmt.Errorf("projection checkpoint version %d, this build reads %d", m.Version, CheckpointVersion)
	case m.Schema != Schema():
		return m, fmt.Errorf("projection checkpoint made for another set of kinds or event versions (schema %.12s)", m.Schema)
	case m.Stream != stream:
		return m, fmt.Errorf("projection checkpoint of stream %q, not %q", m.Stream, stream)
	}
	return m, nil
}

// decodeStrict decodes one JSON value into v: unknown fields and data
// after it are errors.
func decodeStrict(data []byte, v any) error {
	d := json.NewDecoder(bytes.NewReader(data))
	d.DisallowUnknownFields()
	if err := d.Decode(v); err != nil {
		return err
	}
	if d.More() {
		return fmt.Errorf("data after its end")
	}
	return nil
}

// Restore returns views holding the checkpoint's read models; events up to
// c.Seq count as applied. The checkpoint must be complete: views folded on
// from a part missing would be wrong.
func (c Checkpoint) Restore() (*Views, error) {
	if !c.Complete() {
		return nil, fmt.Errorf("restore the read models: the projection checkpoint was read from some of its parts only")
	}
	v := NewViews()
	v.Inventory = inventory.Restore(c.Inventory)
	v.Health.Restore(c.Pending)
	v.Accounts.Restore(c.Accounts)
	for _, id := range c.Rehearsals {
		v.rehearsals[id] = true
	}
	v.floor = c.Seq
	return v, nil
}

// Baseline returns what the engine needs of the checkpoint (OpenFrom).
func (c Checkpoint) Baseline() engine.Baseline {
	return engine.Baseline{Seq: c.Seq, Ceremonies: c.Ceremonies}
}
