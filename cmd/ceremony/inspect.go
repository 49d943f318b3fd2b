package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/hsmbackup"
	"github.com/ceremony-hsm/ceremony/ceremonies/pinchange"
	"github.com/ceremony-hsm/ceremony/ceremonies/sharecopy"
	"github.com/ceremony-hsm/ceremony/ceremonies/usercard"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

func cmdList(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("list", out)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tKIND\tPHASE\tSTARTED\tUPDATED\tEVENTS\tWAITING FOR")
	for _, s := range a.eng.Ceremonies() {
		waiting := "-"
		if s.OpenStep != "" {
			waiting = fmt.Sprintf("%s (deadline %s)", s.OpenStep, s.Deadline.Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%d\t%s\n", s.ID, s.Kind, s.Phase, s.Started.Format(time.RFC3339), s.Updated.Format(time.RFC3339), s.Events, waiting)
	}
	return tw.Flush()
}

func cmdShow(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("show", out)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	a, inst, err := c.openCeremony(ctx, out, "show", pos)
	if err != nil {
		return err
	}
	defer a.close()
	sum := inst.Summary()
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("ceremony", sum.ID)
	row("kind", sum.Kind)
	row("phase", sum.Phase)
	row("started", sum.Started.Format(time.RFC3339))
	row("updated", sum.Updated.Format(time.RFC3339))
	row("events", sum.Events)
	var ended string
	inst.View(func(s engine.State) {
		switch st := s.(type) {
		case *backupkey.State:
			showBackupKey(row, st)
			ended = st.Ended
		case *hsmbackup.State:
			showHSMBackup(row, st)
			ended = st.Ended
		case *usercard.State:
			row("operator", st.Operator)
			row("slot", st.Slot)
			if st.Serial != "" {
				row("card", st.Serial)
			}
			if st.Key != "" {
				row("card key", st.Key)
			}
			ended = st.Ended
		case *pinchange.State:
			row("operator", st.Operator)
			row("slot", st.Slot)
			if st.Serial != "" {
				row("card", st.Serial)
			}
			if len(st.Refused) > 0 {
				row("new PINs refused", strings.Join(st.Refused, "; "))
			}
			if st.Pending {
				row("uncertain", "a change was sent with no recorded outcome: resume settles it on the card")
			}
			ended = st.Ended
		case *sharecopy.State:
			row("operator", st.Operator)
			if st.Source != "" {
				row("source", fmt.Sprintf("card %s, share %d of key set %s", st.Source, st.Index, st.KeySetID))
			}
			if st.Target != "" {
				row("target", st.Target)
			}
			ended = st.Ended
		}
	})
	if sum.OpenStep != "" {
		row("waiting for", fmt.Sprintf("%s until %s", sum.OpenStep, sum.Deadline.Format(time.RFC3339)))
	}
	if ended != "" {
		row("ended because", ended)
	}
	if !sum.Ended {
		row("next", fmt.Sprintf("ceremony resume %s  (or: ceremony abort %s --reason ...)", sum.ID, sum.ID))
	}
	return tw.Flush()
}

func showBackupKey(row func(string, any), st *backupkey.State) {
	row("operator", st.Operator)
	if st.Threshold > 0 {
		row("quorum", fmt.Sprintf("%d-of-%d", st.Threshold, st.Shares))
	}
	if st.KeySetID != "" {
		row("key set", st.KeySetID)
		row("KCV", st.KCV)
	}
	if len(st.Written) > 0 {
		row("shares written", indexSerials(st.Written))
	}
	if len(st.Accepted) > 0 {
		row("shares read", indexSerials(st.Accepted))
	}
	row("refused cards", st.Refusals)
	row("wrong PINs", st.WrongPINs)
	row("timeouts", st.Timeouts)
}

func showHSMBackup(row func(string, any), st *hsmbackup.State) {
	row("operator", st.Operator)
	row("HSM", st.HSM)
	row("file", st.File)
	if st.SHA256 != "" {
		row("file SHA-256", st.SHA256)
	}
	if st.KCV != "" {
		row("Backup Key KCV", st.KCV)
	}
	if len(st.Wrapped) > 0 {
		row("keys wrapped", strings.Join(st.Wrapped, ", "))
	}
	if len(st.Skipped) > 0 {
		row("keys skipped", strings.Join(st.Skipped, ", "))
	}
	if len(st.Restored) > 0 {
		row("keys restored", strings.Join(st.Restored, ", "))
	}
	if len(st.Failed) > 0 {
		row("keys not restored", strings.Join(st.Failed, ", "))
	}
}

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

func cmdEvents(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("events", out)
	asJSON := fs.Bool("json", false, "print the stored events as JSON Lines, exactly as stored")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	a, inst, err := c.openCeremony(ctx, out, "events", pos)
	if err != nil {
		return err
	}
	defer a.close()
	if *asJSON {
		recs, err := a.store.Load(ctx, inst.ID())
		if err != nil {
			return err
		}
		for _, r := range recs {
			fmt.Fprintf(out, "%s\n", r.Data)
		}
		return nil
	}
	return printEvents(ctx, a, inst.ID(), out)
}

// printEvents prints a ceremony's events as a readable table.
func printEvents(ctx context.Context, a *app, id string, out io.Writer) error {
	recs, err := a.store.Load(ctx, id)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "POS\tTIME\tSOURCE\tTYPE\tDETAILS")
	for _, r := range recs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\n", r.Position, r.Time.Format("15:04:05.000"), r.Source, r.Type, details(r.Payload))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(recs) > 0 {
		fmt.Fprintf(out, "hash chain: %d events, last hash %s\n", len(recs), recs[len(recs)-1].Hash)
	}
	return nil
}

// details renders a payload as key=value pairs in field order.
func details(raw json.RawMessage) string {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return string(raw)
	}
	var parts []string
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return string(raw)
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return string(raw)
		}
		s := string(v)
		if len(s) > 2 && s[0] == '"' {
			s = strings.Trim(s, `"`)
		}
		if s == `""` || s == "null" || s == "false" || s == "0" {
			continue
		}
		if len(s) > 48 {
			s = s[:45] + "..."
		}
		parts = append(parts, fmt.Sprintf("%v=%s", k, s))
	}
	return strings.Join(parts, " ")
}

func cmdAbort(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("abort", out)
	reason := fs.String("reason", "", "why the ceremony is aborted (recorded; required)")
	by := fs.String("operator", "", "who aborts it (recorded; required)")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if *reason == "" || *by == "" {
		return usagef("--reason and --operator are required: the abort is recorded with both")
	}
	a, inst, err := c.openCeremony(ctx, out, "abort", pos)
	if err != nil {
		return err
	}
	defer a.close()
	if inst.Ended() {
		return fmt.Errorf("ceremony %s has already ended (%s): nothing to abort", inst.ID(), inst.Phase())
	}
	if err := inst.Record(ctx, events.SourceOperator, &events.CeremonyAborted{Reason: *reason, By: *by}); err != nil {
		return err
	}
	fmt.Fprintf(out, "Ceremony %s aborted.\n", inst.ID())
	return nil
}

func cmdCards(ctx context.Context, args []string, _ io.Reader, out io.Writer) error {
	fs, c := newFlags("cards", out)
	if err := parseNoArgs(fs, args); err != nil {
		return err
	}
	a, err := c.open(ctx, out)
	if err != nil {
		return err
	}
	defer a.close()
	printCards(a.eng, out)
	return nil
}

func printCards(eng *engine.Engine, out io.Writer) {
	tw := tabwriter.NewWriter(out, 0, 2, 2, ' ', 0)
	fmt.Fprintln(tw, "SERIAL\tKEY SET\tSET STATUS\tSHARE\tDEFAULT PIN\tBLOCKED\tNOTE")
	for _, cr := range eng.Cards() {
		set, status, share := "-", "-", "-"
		if cr.KeySetID != "" {
			set, share = cr.KeySetID[:8], fmt.Sprint(cr.ShareIndex)
			if ks, ok := eng.KeySet(cr.KeySetID); ok {
				status = ks.Status
			}
		}
		note := ""
		switch {
		case cr.Uncertain:
			note = "a write's outcome is unknown: verify this card"
		case cr.Void:
			note = "holds a void set: may be overwritten"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cr.Serial, set, status, share, flags(cr.DefaultPIN), flags(cr.Blocked), note)
	}
	tw.Flush()
}

func flags(m map[string]bool) string {
	var on []string
	for k, v := range m {
		if v {
			on = append(on, k)
		}
	}
	sort.Strings(on)
	if len(on) == 0 {
		return "-"
	}
	return strings.Join(on, ",")
}
