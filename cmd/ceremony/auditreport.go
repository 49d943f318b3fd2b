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

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
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
	Facts                  []ceremonies.Row // the kind's summary (Kind.Summary)
	Events                 []reportEvent
	Deviations             []string
	FirstHash, LastHash    string
	Count                  int
	Export                 []string // the signed export's files and key, when given
	Generated, ToolVersion string
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
	k, err := kinds.Lookup(inst.Kind())
	if err != nil {
		return err
	}
	facts, err := k.Facts(inst)
	if err != nil {
		return err
	}
	operators := map[string]bool{}
	for _, f := range facts {
		if f.Name == "operator" {
			operators[f.Value] = true
			continue
		}
		if f.Name == ceremonies.RowOutcome {
			r.Phase = f.Value
			continue
		}
		r.Facts = append(r.Facts, f)
	}
	deviations := ceremonies.CommonDeviations()
	for typ, what := range k.Deviations {
		deviations[typ] = what
	}
	reg := a.eng.Registry()
	for _, rec := range recs {
		p, err := reg.DecodePayload(rec.Envelope)
		if err != nil {
			return err
		}
		switch ev := p.(type) {
		case *events.CeremonyAborted:
			operators[ev.By] = true
		case *events.CeremonyResumed:
			operators[ev.By] = true
		case *events.Witnessed:
			w := fmt.Sprintf("%s (%s): %s", ev.Name, ev.Role, ev.Statement)
			if ev.Signature != "" {
				w += " [signed]"
			}
			r.Witnesses = append(r.Witnesses, w)
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
{{range .Facts}}<tr><th>{{.Name}}</th><td class="mono">{{.Value}}</td></tr>
{{end}}
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
