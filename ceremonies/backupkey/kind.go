package backupkey

import (
	"fmt"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/inventory"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// Ceremony kinds.
const (
	KindGenerate = "backup-key-generate"
	KindLoad     = "backup-key-load"
)

// Phases.
const (
	PhaseCreated   = "created"
	PhaseWriting   = "writing"
	PhaseReading   = "reading"
	PhaseCompleted = ceremonies.PhaseCompleted
	PhaseAborted   = ceremonies.PhaseAborted
	PhaseFailed    = ceremonies.PhaseFailed
	PhaseVoid      = "void"

	PhaseCreatedPaused = PhaseCreated + "_paused" // engine.PausedPhase
	PhaseWritingPaused = PhaseWriting + "_paused"
	PhaseReadingPaused = PhaseReading + "_paused"
)

var (
	evAborted = events.CeremonyAborted{}.EventType()
	evFailed  = events.CeremonyFailed{}.EventType()
)

// Generate is the Backup Key generate kind: "Write New Key", one share per
// card, then "Read New Key" and load into the HSM.
func Generate() ceremonies.Kind {
	k := common()
	k.Definition = GenerateDefinition()
	k.Start = &ceremonies.Start{
		Command:  "generate",
		Short:    "Generate a Backup Key and write it to cards, interactively",
		IDPrefix: "gen",
		Long: `Generate a Backup Key, split it k-of-n and write one share to each of n
cards, read k of them back to check the key, then load it into the HSM.
The operator is guided on the terminal, which serves as PIN pad: on
emulated cards (--cards-dir) the operator types which card goes into the
reader; with --reader the cards go into a PC/SC reader.

A step not done within --step-timeout pauses the ceremony; 'ceremony
resume ID' continues it, also after a crash or a closed terminal.`,
		Example: `  ceremony generate --operator alice --quorum 2-of-3 --cards-dir cards
  ceremony generate --operator alice --quorum 3-of-5 --reader "REINER SCT cyberJack RFID komfort" \
      --hsm pkcs11 --pkcs11-token pkcs11:token=ceremony --witnesses 2`,
		Params: []ceremonies.Param{
			{Name: "quorum", Default: "2-of-3", Usage: "quorum k-of-n: 2-of-3, 3-of-5, or a custom k-of-n (2 <= k <= n <= 16)"},
		},
		Check: func(p ceremonies.Params) error {
			if _, err := ParseQuorum(p["quorum"]); err != nil {
				return ceremonies.Usagef("--quorum: %v", err)
			}
			return nil
		},
		Begin: func(p ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
			q, err := ParseQuorum(p["quorum"])
			if err != nil {
				return nil, ceremonies.Usagef("--quorum: %v", err)
			}
			return []events.Payload{&events.GenerateStarted{Operator: at.Operator, Threshold: q.Threshold, Shares: q.Shares, Reader: at.Reader, HSM: at.HSM}}, nil
		},
	}
	k.Rehearse = &ceremonies.Rehearse{
		Params: func(shares int) ceremonies.Params {
			return ceremonies.Params{"quorum": fmt.Sprintf("2-of-%d", shares)}
		},
		Cards: func(shares int) int { return shares },
		Next:  rehearseNext,
	}
	return k
}

// Load is the Backup Key load kind: read any k cards, in any order,
// rebuild, check the KCV, load into the HSM.
func Load() ceremonies.Kind {
	k := common()
	k.Definition = LoadDefinition()
	k.Start = &ceremonies.Start{
		Command:  "load",
		Short:    "Read k cards and load the Backup Key into the HSM, interactively",
		IDPrefix: "load",
		Long: `Read the shares of k cards of a key set, rebuild the Backup Key, check it
against the set's KCV and load it into the HSM. The operator is guided on
the terminal, as in 'ceremony generate'.`,
		Example: `  ceremony load --operator bob --cards-dir cards
  ceremony load --operator bob --cards-dir cards --hsm pkcs11 --pkcs11-token node-b --pkcs11-pin-file node-b.pin`,
		Params: []ceremonies.Param{
			{Name: "key-set", Usage: "key set id to load (default: the set of the first card read)"},
		},
		Begin: func(p ceremonies.Params, at ceremonies.StartInfo) ([]events.Payload, error) {
			if id := p["key-set"]; id != "" {
				if _, ok := at.Inventory.KeySet(id); !ok {
					return nil, ceremonies.Usagef("--key-set %s: no such key set in this event store ('ceremony cards' lists the sets cards hold)", id)
				}
			}
			return []events.Payload{&events.LoadStarted{Operator: at.Operator, KeySetID: p["key-set"], Reader: at.Reader, HSM: at.HSM}}, nil
		},
	}
	k.Rehearse = &ceremonies.Rehearse{
		Params: func(int) ceremonies.Params { return ceremonies.Params{} },
		Cards:  func(shares int) int { return shares },
		Next:   rehearseNext,
	}
	return k
}

// common is what generate and load share.
func common() ceremonies.Kind {
	return ceremonies.Kind{
		Payloads:  Payloads(),
		Completed: PhaseCompleted,
		Needs:     ceremonies.Needs{Cards: true, HSM: true},
		NewRunner: func(env ceremonies.Env) (ceremonies.Runner, error) { return &Runner{Env: env}, nil },
		Summary:   ceremonies.SummaryOf(summary),
		Deviations: map[string]string{
			"backupkey.key_mismatch": "KCV mismatch", "backupkey.shares_discarded": "shares discarded",
			"backupkey.share_write_failed": "write failed", "hsm.load_failed": "HSM load failed", "backupkey.key_set_voided": "key set voided",
		},
		Effects: Effects(),
		Project: Project,
	}
}

// GenerateDefinition is the generate ceremony's machine.
func GenerateDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused, PhaseWriting, PhaseWritingPaused, PhaseReading, PhaseReadingPaused}
	ts := []engine.Transition{
		{Event: events.WriteConfirmed{}.EventType(), From: []string{PhaseCreated}, To: PhaseWriting},
		{Event: events.ReadConfirmed{}.EventType(), From: []string{PhaseWriting}, To: PhaseReading},
		{Event: events.HSMKeyLoaded{}.EventType(), From: []string{PhaseReading}, To: PhaseCompleted},
		{Event: events.KeySetVoided{}.EventType(), From: []string{PhaseWriting, PhaseWritingPaused}, To: PhaseVoid},
		{Event: evAborted, From: live, To: PhaseAborted},
		{Event: evFailed, From: live, To: PhaseFailed},
	}
	ts = append(ts, engine.Pausable(PhaseCreated, PhaseWriting, PhaseReading)...)
	return &engine.Definition{
		Kind:        KindGenerate,
		First:       events.GenerateStarted{}.EventType(),
		Initial:     PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed, PhaseVoid},
		Transitions: ts,
		Data: map[string][]string{
			PhaseCreated: startData(),
			PhaseWriting: concat(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents(), ceremonies.Types(
				&events.KeyGenerated{}, &events.OverwriteConfirmed{}, &events.ShareWriteRequested{}, &events.ShareWritten{}, &events.ShareWriteFailed{})),
			PhaseReading: readingData(),
		},
		NewState: func() engine.State { return newState() },
	}
}

// LoadDefinition is the load ceremony's machine.
func LoadDefinition() *engine.Definition {
	live := []string{PhaseCreated, PhaseCreatedPaused, PhaseReading, PhaseReadingPaused}
	ts := []engine.Transition{
		{Event: events.ReadConfirmed{}.EventType(), From: []string{PhaseCreated}, To: PhaseReading},
		{Event: events.HSMKeyLoaded{}.EventType(), From: []string{PhaseReading}, To: PhaseCompleted},
		{Event: evAborted, From: live, To: PhaseAborted},
		{Event: evFailed, From: live, To: PhaseFailed},
	}
	ts = append(ts, engine.Pausable(PhaseCreated, PhaseReading)...)
	return &engine.Definition{
		Kind:        KindLoad,
		First:       events.LoadStarted{}.EventType(),
		Initial:     PhaseCreated,
		Terminal:    []string{PhaseCompleted, PhaseAborted, PhaseFailed},
		Transitions: ts,
		Data:        map[string][]string{PhaseCreated: startData(), PhaseReading: readingData()},
		NewState:    func() engine.State { return newState() },
	}
}

// startData: a resume before OK records what it found.
func startData() []string {
	return concat(ceremonies.RecoveryEvents(), ceremonies.Types(&events.SharesDiscarded{}))
}

// readingData: k cards read and checked, the key rebuilt and loaded.
func readingData() []string {
	return concat(ceremonies.CardStepEvents(), ceremonies.RecoveryEvents(), ceremonies.Types(
		&events.ShareAccepted{}, &events.SharesDiscarded{}, &events.KeyReconstructed{}, &events.KeyMismatch{},
		&events.HSMLoadRequested{}, &events.HSMLoadFailed{}))
}

func concat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

// Payloads are the payload types of the Backup Key ceremonies.
func Payloads() []events.PayloadType {
	return []events.PayloadType{
		events.Declare[events.GenerateStarted](),
		events.Declare[events.LoadStarted](),
		events.WriteConfirmedType(),
		events.ReadConfirmedType(),
		events.Declare[events.KeyGenerated](),
		events.OverwriteConfirmedType(),
		events.Declare[events.ShareWriteRequested](),
		events.Declare[events.ShareWritten](),
		events.Declare[events.ShareWriteFailed](),
		events.Declare[events.ShareAccepted](),
		events.Declare[events.SharesDiscarded](),
		events.Declare[events.KeyReconstructed](),
		events.Declare[events.KeyMismatch](),
		events.Declare[events.KeySetVoided](),
		events.Declare[events.HSMLoadRequested](),
		events.Declare[events.HSMKeyLoaded](),
		events.Declare[events.HSMLoadFailed](),
	}
}

// Effects are the Backup Key ceremonies' side effects: share writes and
// HSM loads, each checked before anything goes on after a stop.
func Effects() []ceremonies.Effect {
	resume := "resume ceremony {ceremony}: the engine checks the card or HSM before going on"
	return []ceremonies.Effect{
		{
			Asked:    events.ShareWriteRequested{}.EventType(),
			Answered: ceremonies.Types(&events.ShareWritten{}, &events.ShareWriteFailed{}),
			Key:      shareWriteSerial,
			What: func(p events.Payload) string {
				ev := p.(*events.ShareWriteRequested)
				return fmt.Sprintf("writing share %d to card %s has no recorded outcome", ev.Index, ev.Serial)
			},
			Recovery: resume,
		},
		{
			Asked:    events.HSMLoadRequested{}.EventType(),
			Answered: ceremonies.Types(&events.HSMKeyLoaded{}, &events.HSMLoadFailed{}),
			Key:      func(events.Payload) string { return "load" },
			What: func(p events.Payload) string {
				ev := p.(*events.HSMLoadRequested)
				return fmt.Sprintf("loading key set %s into %s has no recorded outcome", ev.KeySetID, ev.HSM)
			},
			Recovery: resume,
		},
	}
}

// shareWriteSerial keys a share write by its card.
func shareWriteSerial(p events.Payload) string {
	switch ev := p.(type) {
	case *events.ShareWriteRequested:
		return ev.Serial
	case *events.ShareWritten:
		return ev.Serial
	case *events.ShareWriteFailed:
		return ev.Serial
	}
	return ""
}

// Project folds the Backup Key events into the inventory: key sets, the
// shares cards hold, and the key each HSM holds. Share copies fold the
// same way (ceremonies/sharecopy uses it).
func Project(inv *inventory.Inventory, env events.Envelope, p events.Payload) {
	switch ev := p.(type) {
	case *events.KeyGenerated:
		cs := map[int]string{}
		for _, c := range ev.Commitments {
			cs[c.Index] = c.Commitment
		}
		inv.KeySetGenerated(env.CeremonyID, ev.KeySetID, ev.Threshold, ev.Shares, ev.KCV, cs)
	case *events.ShareWriteRequested:
		inv.ShareWriteRequested(ev.Serial)
	case *events.ShareWriteFailed:
		inv.ShareWriteFailed(ev.Serial)
	case *events.ShareWritten:
		inv.ShareWritten(ev.Serial, ev.KeySetID, ev.Index)
	case *events.HSMKeyLoaded:
		inv.KeyLoaded(ev.HSM, ev.KeySetID, ev.KCV)
	case *events.KeySetVoided:
		inv.KeySetVoided(ev.KeySetID, ev.Written)
	case *events.CeremonyAborted:
		inv.GenerateAborted(env.CeremonyID)
	}
}

// summary is what 'ceremony show' and the report say of one ceremony.
func summary(st *State) []ceremonies.Row {
	rows := []ceremonies.Row{{Name: "operator", Value: st.Operator}}
	add := func(k, v string) { rows = append(rows, ceremonies.Row{Name: k, Value: v}) }
	if st.KeyLost && len(st.Written) < st.Shares {
		// A generate that lost its key after k writes: say it wherever
		// the outcome is shown (ceremonies.RowOutcome).
		if st.Loaded {
			add(ceremonies.RowOutcome, fmt.Sprintf("completed with %d of %d cards", len(st.Written), st.Shares))
		}
		add("shares lost", joinInts(st.Unwritten())+" (gone for good: never written, the key existed only in memory)")
	}
	if st.Threshold > 0 {
		add("quorum", fmt.Sprintf("%d-of-%d", st.Threshold, st.Shares))
	}
	if st.KeySetID != "" {
		add("key set", st.KeySetID)
		add("KCV", st.KCV)
	}
	if len(st.Written) > 0 {
		add("shares written", indexSerials(st.Written))
	}
	if len(st.Accepted) > 0 {
		add("shares read", indexSerials(st.Accepted))
	}
	add("refused cards", fmt.Sprint(st.Refusals))
	add("wrong PINs", fmt.Sprint(st.WrongPINs))
	add("timeouts", fmt.Sprint(st.Timeouts))
	if len(st.ResumedBy) > 0 {
		by := make([]string, len(st.ResumedBy))
		for i, b := range st.ResumedBy {
			by[i] = b
			if b == "" {
				by[i] = "(not recorded)"
			}
		}
		add(ceremonies.RowResumedBy, strings.Join(by, ", "))
	}
	if st.AbortedBy != "" {
		add("aborted by", st.AbortedBy)
	}
	if st.Ended != "" {
		add("ended because", st.Ended)
	}
	return rows
}

// indexSerials renders share index -> card serial as "1:S1 2:S2".
func indexSerials(m map[int]string) string {
	idx := make([]int, 0, len(m))
	for i := range m {
		idx = append(idx, i)
	}
	sort.Ints(idx)
	parts := make([]string, 0, len(idx))
	for _, i := range idx {
		parts = append(parts, fmt.Sprintf("%d:%s", i, m[i]))
	}
	return strings.Join(parts, " ")
}

// rehearseNext is the card a rehearsed generate or load needs now: the
// card whose write must be checked, else the first card without a share
// when writing, else the first card holding a share (of this generate, or
// any when loading) not read yet when reading.
func rehearseNext(v ceremonies.RehearsalView) (int, bool, error) {
	st, err := snapshot(v.Inst)
	if err != nil {
		return 0, false, err
	}
	reading := v.Inst.Phase() == PhaseReading
	for i, serial := range v.Serials {
		_, written := st.WrittenSerial(serial)
		if v.Inst.Kind() == KindLoad {
			cr, ok := v.Inventory.Card(serial)
			written = ok && cr.KeySetID != ""
		}
		_, accepted := st.AcceptedSerial(serial)
		switch {
		case !reading && st.Pending != nil:
			if serial == st.Pending.Serial {
				return i, true, nil
			}
		case !reading && !written:
			return i, true, nil
		case reading && written && !accepted:
			return i, false, nil
		}
	}
	return 0, false, fmt.Errorf("rehearsal: no card fits the next step of %s (phase %s)", v.Inst.ID(), v.Inst.Phase())
}
