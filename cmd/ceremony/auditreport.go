package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/ceremony-hsm/ceremony/events/export"
	"github.com/spf13/cobra"
)

// reportEvent is one row of the report's step table.
type reportEvent struct {
	Pos     uint64
	Time    string
	Source  string
	Type    string
	Details string
	Deviant bool
}

// report is what the printable ceremony report shows.
type report struct {
	ID, Kind, Phase        string
	Started, Ended         string
	Duration               string
	Operators, Witnesses   []string
	Quorum, KeySet, KCV    string
	Cards                  []string
	Events                 []reportEvent
	Deviations             []string
	FirstHash, LastHash    string
	Count                  int
	Export                 []string // the signed export's files and key, when given
	Generated, ToolVersion string
}

// deviations are the event types a reviewer must see.
var deviations = map[string]string{
	"step.timed_out": "timeout", "step.retried": "retry", "card.pin_rejected": "wrong PIN", "card.blocked": "blocked card",
	"card.refused": "card refused", "ceremony.aborted": "aborted", "ceremony.failed": "failed", "backupkey.key_mismatch": "KCV mismatch",
	"backupkey.shares_discarded": "shares discarded", "ceremony.secrets_lost": "secrets lost", "ceremony.resumed": "resumed",
	"backupkey.share_write_failed": "write failed", "hsm.load_failed": "HSM load failed", "backupkey.key_set_voided": "key set voided",
	"sharecopy.redundancy_warning": "redundancy lost", "pin.policy_refused": "PIN refused by policy", "pin.change_resolved": "uncertain PIN change settled",
}

func newAuditReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report ID",
		Short: "A printable HTML report of one ceremony (--out FILE.html)",
		Long: `Write a printable HTML report of one ceremony to --out FILE.html (never
overwritten): kind, outcome, times, operators, witnesses, quorum, key set
and KCV, cards, the deviations a reviewer must see (timeouts, wrong PINs,
refusals, retries, aborts), every step, the first and last event hashes,
and lines for the operator's, a witness's and the auditor's signatures.
With --export, the signed export's file hashes and key fingerprint too.`,
		Example: `  ceremony audit report gen-1a2b3c4d --out gen-1a2b3c4d.html --export exp/`,
		Args:    ceremonyArg,
	}
	c := storeFlags(cmd)
	outFile := cmd.Flags().String("out", "", "the HTML file to write (never overwritten; required)")
	exportOf := cmd.Flags().String("export", "", "a signed export of the ceremony, whose hashes the report lists")
	cmd.RunE = func(cmd *cobra.Command, pos []string) error {
		ctx, out := cmd.Context(), cmd.OutOrStdout()
		if *outFile == "" {
			return usagef("audit report takes the ceremony id and --out FILE.html")
		}
		a, err := c.open(ctx, out)
		if err != nil {
			return err
		}
		defer a.close()
		return cmdReport(ctx, a, pos[0], *outFile, *exportOf, out)
	}
	return cmd
}

// cmdReport writes the printable HTML report of one ceremony; exportDir,
// if given, names a signed export whose hashes the report lists.
func cmdReport(ctx context.Context, a *app, id, outFile, exportDir string, out io.Writer) error {
	recs, err := a.store.Load(ctx, id)
	if err != nil {
		return err
	}
	if len(recs) == 0 {
		return &codeError{exitNotFound, fmt.Errorf("no ceremony %q", id)}
	}
	inst, err := a.get(id)
	if err != nil {
		return err
	}
	r := report{ID: id, Kind: inst.Kind(), Phase: inst.Phase(), Count: len(recs), ToolVersion: toolVersion,
		Generated: time.Now().UTC().Format(time.RFC3339), FirstHash: recs[0].Hash, LastHash: recs[len(recs)-1].Hash}
	first, last := recs[0].Time, recs[len(recs)-1].Time
	r.Started, r.Ended, r.Duration = first.Format(time.RFC3339), last.Format(time.RFC3339), last.Sub(first).Round(time.Millisecond).String()
	operators, witnesses, cards := map[string]bool{}, []string{}, map[string]string{}
	reg := a.eng.Registry()
	for _, rec := range recs {
		p, err := reg.DecodePayload(rec.Envelope)
		if err != nil {
			return err
		}
		switch ev := p.(type) {
		case *events.GenerateStarted:
			operators[ev.Operator] = true
			r.Quorum = fmt.Sprintf("%d-of-%d", ev.Threshold, ev.Shares)
		case *events.LoadStarted:
			operators[ev.Operator] = true
		case *events.CeremonyAborted:
			operators[ev.By] = true
		case *events.KeyGenerated:
			r.KeySet, r.KCV = ev.KeySetID, ev.KCV
		case *events.KeyReconstructed:
			r.KeySet, r.KCV = ev.KeySetID, ev.KCV
		case *events.ShareWritten:
			cards[ev.Serial] = fmt.Sprintf("%s: share %d written", ev.Serial, ev.Index)
		case *events.ShareAccepted:
			if _, ok := cards[ev.Serial]; !ok {
				cards[ev.Serial] = fmt.Sprintf("%s: share %d read", ev.Serial, ev.Index)
			} else {
				cards[ev.Serial] += ", read back"
			}
		case *events.Witnessed:
			w := fmt.Sprintf("%s (%s): %s", ev.Name, ev.Role, ev.Statement)
			if ev.Signature != "" {
				w += " [signed]"
			}
			witnesses = append(witnesses, w)
		}
		if op := operatorOf(p); op != "" {
			operators[op] = true
		}
		row := reportEvent{Pos: rec.Position, Time: rec.Time.Format("15:04:05.000"), Source: string(rec.Source), Type: rec.Type, Details: details(rec.Payload)}
		if what, ok := deviations[rec.Type]; ok {
			row.Deviant = true
			r.Deviations = append(r.Deviations, fmt.Sprintf("#%d %s %s: %s", rec.Position, row.Time, what, row.Details))
		}
		r.Events = append(r.Events, row)
	}
	for op := range operators {
		if op != "" {
			r.Operators = append(r.Operators, op)
		}
	}
	sort.Strings(r.Operators)
	r.Witnesses = witnesses
	for _, c := range cards {
		r.Cards = append(r.Cards, c)
	}
	sort.Strings(r.Cards)
	if exportDir != "" {
		b, err := os.ReadFile(filepath.Join(exportDir, export.ManifestFile))
		if err != nil {
			return fmt.Errorf("report: the export: %w", err)
		}
		var m export.Manifest
		if err := json.Unmarshal(b, &m); err != nil {
			return fmt.Errorf("report: the export's manifest: %w", err)
		}
		for _, f := range m.Files {
			r.Export = append(r.Export, fmt.Sprintf("%s SHA-256 %s", f.Name, f.SHA256))
		}
		ms := sha256.Sum256(b)
		r.Export = append(r.Export, fmt.Sprintf("%s SHA-256 %x", export.ManifestFile, ms), "signed by key "+m.Fingerprint)
		for _, c := range m.Ceremonies {
			if c.ID == id {
				r.Export = append(r.Export, fmt.Sprintf("this ceremony in the export: %d events, last hash %s", c.Count, c.LastHash))
			}
		}
	}
	f, err := os.OpenFile(outFile, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("report: %w (a report is never overwritten)", err)
	}
	if err := reportTemplate.Execute(f, r); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Fprintf(out, "Report of ceremony %s written to %s (%d events, %d deviations).\n", id, outFile, r.Count, len(r.Deviations))
	return nil
}

func operatorOf(p events.Payload) string {
	switch ev := p.(type) {
	case *events.BackupStarted:
		return ev.Operator
	case *events.RestoreStarted:
		return ev.Operator
	case *events.UserEnrolStarted:
		return ev.Operator
	case *events.UserActivateStarted:
		return ev.Operator
	case *events.PINChangeStarted:
		return ev.Operator
	case *events.CopyStarted:
		return ev.Operator
	}
	return ""
}

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"join": strings.Join}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Ceremony report {{.ID}}</title>
<style>
body{font-family:sans-serif;font-size:11pt;margin:2em}
h1{font-size:16pt} h2{font-size:13pt;margin-top:1.5em}
table{border-collapse:collapse;width:100%;font-size:9pt}
td,th{border:1px solid #999;padding:2px 4px;text-align:left;vertical-align:top}
tr.dev{background:#fde2e2}
.mono{font-family:monospace;word-break:break-all}
.sign{margin-top:3em;display:flex;gap:4em} .sign div{border-top:1px solid #000;width:16em;padding-top:4px}
@media print{tr{break-inside:avoid}}
</style></head><body>
<h1>Key ceremony report: {{.ID}}</h1>
<table>
<tr><th>Ceremony kind</th><td>{{.Kind}}</td></tr>
<tr><th>Outcome</th><td>{{.Phase}}</td></tr>
<tr><th>Started</th><td>{{.Started}}</td></tr>
<tr><th>Ended (last event)</th><td>{{.Ended}}</td></tr>
<tr><th>Duration</th><td>{{.Duration}}</td></tr>
<tr><th>Operators</th><td>{{join .Operators ", "}}</td></tr>
<tr><th>Witnesses</th><td>{{if .Witnesses}}{{join .Witnesses "; "}}{{else}}none recorded{{end}}</td></tr>
{{if .Quorum}}<tr><th>Quorum</th><td>{{.Quorum}}</td></tr>{{end}}
{{if .KeySet}}<tr><th>Key set</th><td class="mono">{{.KeySet}}</td></tr><tr><th>KCV</th><td class="mono">{{.KCV}}</td></tr>{{end}}
<tr><th>Cards</th><td>{{if .Cards}}{{join .Cards "; "}}{{else}}-{{end}}</td></tr>
</table>
<h2>Deviations</h2>
{{if .Deviations}}<ul>{{range .Deviations}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None: no timeout, wrong PIN, refusal, retry or abort.</p>{{end}}
<h2>Steps ({{.Count}} events)</h2>
<table><tr><th>#</th><th>Time (UTC)</th><th>Source</th><th>Event</th><th>Details</th></tr>
{{range .Events}}<tr{{if .Deviant}} class="dev"{{end}}><td>{{.Pos}}</td><td>{{.Time}}</td><td>{{.Source}}</td><td>{{.Type}}</td><td>{{.Details}}</td></tr>
{{end}}</table>
<h2>Event log</h2>
<table>
<tr><th>First event hash</th><td class="mono">{{.FirstHash}}</td></tr>
<tr><th>Last event hash</th><td class="mono">{{.LastHash}}</td></tr>
{{range .Export}}<tr><th>Signed export</th><td class="mono">{{.}}</td></tr>{{end}}
</table>
<p>Verify with <span class="mono">ceremony audit verify-store</span> and an export's manifest
(<span class="mono">ceremony audit export --ceremony {{.ID}}</span>). Generated {{.Generated}} by {{.ToolVersion}}.</p>
<div class="sign"><div>Operator</div><div>Witness</div><div>Auditor</div></div>
</body></html>
`))
