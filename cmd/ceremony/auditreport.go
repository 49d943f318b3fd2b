package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/pgpwords"
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
	SignOffs               []reportSignOff          // one row per witness sign-off
	Findings               []health.Finding         // open at report time, about this ceremony, its cards or key sets
	Cards                  []string                 // each card presented, with its label and custodian
	Script                 *reportScript            // the script the ceremony was started from, if any
	Station                *events.StationDescribed // the station it started on, if recorded
	Rehearsal              string                   // the marking on every page of a rehearsal, else empty
	PageCSS                template.CSS             // the @page rule printing it in every page's margins
	Checkpoint             *reportCheckpoint        // the signed checkpoint covering the ceremony, with an audit key
	DualControl            string                   // the dual control's requirement and approval, if required
}

// reportScript is the reviewed script a ceremony was bound to, and each of
// its steps with the time it was checked off.
type reportScript struct {
	File, SHA256, Title, Unscripted string
	Steps                           []reportStep
}

type reportStep struct {
	N          int
	Text, Time string
	By         string
}

// reportSignOff is one witness's sign-off: who, in which role, when, what
// they signed (the hash of the last event they saw) and how.
type reportSignOff struct {
	Name, Role, Time, UpTo, How, Statement string
	AfterEnd                               bool
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
	inst, err := a.get(ctx, id)
	if err != nil {
		return err
	}
	r := report{ID: id, Kind: inst.Kind(), Phase: inst.Phase(), Count: len(recs), ToolVersion: toolVersion,
		Generated: time.Now().UTC().Format(time.RFC3339), FirstHash: recs[0].Hash, LastHash: recs[len(recs)-1].Hash}
	// The duration runs to the last ceremony event: sign-offs (recorded
	// any time, also after the end) are listed on their own.
	first, last := recs[0].Time, recs[0].Time
	for _, rec := range recs {
		if rec.Type != (events.Witnessed{}).EventType() {
			last = rec.Time
		}
	}
	if r.Checkpoint, err = reportCheckpointOf(a, recs[len(recs)-1].Seq); err != nil {
		return err
	}
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
	seenCard := map[string]bool{}
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
			how := "recorded at the station, unsigned"
			if ev.Signature != "" {
				w += " [signed]"
				how = "signed with Ed25519 key " + keyFingerprint(ev.PublicKey)
			}
			r.Witnesses = append(r.Witnesses, w)
			r.SignOffs = append(r.SignOffs, reportSignOff{Name: ev.Name, Role: ev.Role, Time: rec.Time.Format(time.RFC3339), UpTo: ev.UpTo,
				How: how, Statement: ev.Statement, AfterEnd: rec.Time.After(last)})
		case *events.ApprovalRequired:
			r.DualControl = "required: a second operator approves before the first card step (started by " + ev.Starter + "); not approved"
		case *events.Approved:
			r.DualControl = strings.TrimSuffix(r.DualControl, "; not approved") + "; approved by " + ev.By + " (" + ev.Role + ") at " + rec.Time.Format(time.RFC3339)
		case *events.StationDescribed:
			if r.Station == nil {
				r.Station = ev
			}
		case *events.ScriptBound:
			r.Script = &reportScript{File: ev.File, SHA256: ev.SHA256, Title: ev.Title, Unscripted: ev.Unscripted}
			for i, st := range ev.Steps {
				r.Script.Steps = append(r.Script.Steps, reportStep{N: i + 1, Text: st, Time: "not checked off"})
			}
		case *events.ScriptStepChecked:
			if r.Script != nil && ev.Step >= 1 && ev.Step <= len(r.Script.Steps) {
				r.Script.Steps[ev.Step-1].Time, r.Script.Steps[ev.Step-1].By = rec.Time.Format(time.RFC3339), ev.By
			}
		case *events.CardPresented:
			if !seenCard[ev.Serial] {
				seenCard[ev.Serial] = true
				r.Cards = append(r.Cards, cardLine(a, ev.Serial, ev.Reader, ev.ReaderClass))
			}
		}
		row := reportEvent{Pos: rec.Position, Time: rec.Time.Format("15:04:05.000"), Source: string(rec.Source), Type: rec.Type, Details: details(rec.Payload)}
		if what, ok := deviations[rec.Type]; ok {
			row.Deviant = true
			r.Deviations = append(r.Deviations, fmt.Sprintf("#%d %s %s: %s", rec.Position, row.Time, what, fullDetails(rec.Payload)))
		}
		r.Events = append(r.Events, row)
	}
	for op := range operators {
		if op != "" {
			r.Operators = append(r.Operators, op)
		}
	}
	sort.Strings(r.Operators)
	if r.Station != nil && r.Station.Rehearsal() {
		var what []string
		if r.Station.SoftwareHSM {
			what = append(what, "software HSM")
		}
		if r.Station.EmulatedCards {
			what = append(what, "emulated cards")
		}
		r.Rehearsal = "REHEARSAL: " + strings.Join(what, " and ") + ", not production hardware"
		r.PageCSS = pageMarking(r.Rehearsal, r.Rehearsal+": ceremony "+id)
	}
	r.Findings = findingsAbout(a.views.Findings(a.eng, time.Now()), id, recs)
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

var reportTemplate = template.Must(template.New("report").Funcs(template.FuncMap{"join": strings.Join, "words": hashWords}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Ceremony report {{.ID}}</title>
<style>
body{font-family:sans-serif;font-size:11pt;margin:2em}
h1{font-size:16pt} h2{font-size:13pt;margin-top:1.5em}
table{border-collapse:collapse;width:100%;font-size:9pt}
td,th{border:1px solid #999;padding:2px 4px;text-align:left;vertical-align:top}
tr.dev{background:#fde2e2}
.mono{font-family:monospace;word-break:break-all} .nw{white-space:nowrap}
table.sign{margin-top:2em} table.sign td{height:2.5em;width:22%}
@media print{tr{break-inside:avoid}}
{{if .Rehearsal}}{{.PageCSS}}
.mark{font-weight:bold;color:#b00;text-align:center}
@media print{.mark{display:none}}{{end}}
.words{font-size:8pt;font-style:italic}
</style></head><body><main>
{{if .Rehearsal}}<div class="mark">{{.Rehearsal}}</div>{{end}}
<h1>Key ceremony report: {{.ID}}</h1>
<table>
{{with .Station}}<tr><th>HSM</th><td>{{if .HSM}}{{.HSM}}{{else}}none (this kind uses no HSM){{end}}</td></tr>
{{range .Readers}}<tr><th>Reader</th><td>{{.Name}} (class: {{.Class}})</td></tr>{{end}}
<tr><th>Cards</th><td>{{if .EmulatedCards}}EMULATED: {{end}}{{.Cards}}</td></tr>
{{else}}<tr><th>Station</th><td>not recorded (the ceremony began before stations were recorded)</td></tr>{{end}}
{{if .Rehearsal}}<tr><th>Rehearsal</th><td><b>{{.Rehearsal}}</b></td></tr>{{end}}
<tr><th>Ceremony kind</th><td>{{.Kind}}</td></tr>
<tr><th>Outcome</th><td>{{.Phase}}</td></tr>
<tr><th>Started</th><td>{{.Started}}</td></tr>
<tr><th>Ended (last ceremony event)</th><td>{{.Ended}}</td></tr>
<tr><th>Duration</th><td>{{.Duration}} (to the last ceremony event; sign-offs are listed below)</td></tr>
<tr><th>Operators</th><td>{{join .Operators ", "}}</td></tr>
{{with .DualControl}}<tr><th>Dual control</th><td>{{.}}</td></tr>{{end}}
{{range .Facts}}<tr><th>{{.Name}}</th><td class="mono">{{.Value}}</td></tr>
{{end}}
</table>
{{with .Script}}<h2>Script</h2>
<table><tr><th>File</th><td>{{.File}}{{if .Title}}: {{.Title}}{{end}}</td></tr>
<tr><th>SHA-256</th><td class="mono">{{.SHA256}}<br><span class="words">{{words .SHA256}}</span></td></tr>
<tr><th>Not in the script</th><td>{{if eq .Unscripted "deviation"}}recorded as a deviation{{else}}refused{{end}}</td></tr></table>
{{if .Steps}}<table><tr><th>#</th><th>Step read aloud</th><th>Checked off (UTC)</th><th>By</th></tr>
{{range .Steps}}<tr><td>{{.N}}</td><td>{{.Text}}</td><td class="nw">{{.Time}}</td><td>{{.By}}</td></tr>
{{end}}</table>{{end}}{{end}}
{{if .Cards}}<h2>Cards</h2>
<ul>{{range .Cards}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Witness sign-offs</h2>
{{if .SignOffs}}<table><tr><th>Witness</th><th>Role</th><th>Time (UTC)</th><th>Signed (hash of the last event seen)</th><th>How</th></tr>
{{range .SignOffs}}<tr><td>{{.Name}}</td><td>{{.Role}}</td><td class="nw">{{.Time}}{{if .AfterEnd}}<br>(after the end){{end}}</td><td class="mono">{{.UpTo}}<br><span class="words">{{words .UpTo}}</span></td><td>{{.How}}</td></tr>
{{end}}</table>{{else}}<p>No witness sign-off recorded.</p>{{end}}
<h2>Deviations</h2>
{{if .Deviations}}<ul>{{range .Deviations}}<li>{{.}}</li>{{end}}</ul>{{else}}<p>None: no timeout, wrong PIN, refusal, retry or abort.</p>{{end}}
<h2>Health findings open when this report was made</h2>
{{if .Findings}}<table><tr><th>Severity</th><th>Subject</th><th>What</th><th>What to do</th></tr>
{{range .Findings}}<tr><td>{{.Severity}}</td><td>{{.Subject}}</td><td>{{.What}}</td><td>{{.Recovery}}</td></tr>
{{end}}</table>{{else}}<p>None about this ceremony, its cards or its key set.</p>{{end}}
<h2>Steps ({{.Count}} events)</h2>
<table><tr><th>#</th><th>Time (UTC)</th><th>Source</th><th>Event</th><th>Details</th></tr>
{{range .Events}}<tr{{if .Deviant}} class="dev"{{end}}><td>{{.Pos}}</td><td>{{.Time}}</td><td>{{.Source}}</td><td>{{.Type}}</td><td>{{.Details}}</td></tr>
{{end}}</table>
<h2>Event log</h2>
<table>
<tr><th>First event hash</th><td class="mono">{{.FirstHash}}<br><span class="words">{{words .FirstHash}}</span></td></tr>
<tr><th>Last event hash</th><td class="mono">{{.LastHash}}<br><span class="words">{{words .LastHash}}</span></td></tr>
{{with .Checkpoint}}<tr><th>Checkpoint of the event log</th><td class="mono">{{.Size}} events ({{.How}}), origin {{.Origin}}<br>root {{.Root}}<br><span class="words">{{.Words}}</span></td></tr>{{end}}
{{range .Export}}<tr><th>Signed export</th><td class="mono">{{.}}</td></tr>{{end}}
</table>
<p>Verify with <span class="mono">ceremony audit verify-store</span> and an export's manifest
(<span class="mono">ceremony audit export --ceremony {{.ID}}</span>). Generated {{.Generated}} by {{.ToolVersion}}.</p>
<h2>Signatures</h2>
<table class="sign"><tr><th>Capacity</th><th>Printed name</th><th>Role</th><th>Date</th><th>Signature</th></tr>
<tr><th>Operator</th><td></td><td></td><td></td><td></td></tr>
{{range .SignOffs}}<tr><th>Witness</th><td>{{.Name}}</td><td>{{.Role}}</td><td></td><td></td></tr>
{{else}}<tr><th>Witness</th><td></td><td></td><td></td><td></td></tr>
{{end}}<tr><th>Auditor</th><td></td><td></td><td></td><td></td></tr>
</table>
</main></body></html>
`))

// pageMarking is an @page rule printing top and bottom in the margin of
// every page (CSS Paged Media margin boxes).
func pageMarking(top, bottom string) template.CSS {
	box := func(where, text string) string {
		var b strings.Builder
		for _, r := range text {
			if r < 0x20 || r == '"' || r == '\\' || r > 0x7e {
				fmt.Fprintf(&b, "\\%x ", r)
			} else {
				b.WriteRune(r)
			}
		}
		return fmt.Sprintf("@%s{content:\"%s\";font:bold 9pt sans-serif;color:#b00}", where, b.String())
	}
	return template.CSS("@page{margin:16mm 12mm;" + box("top-center", top) + box("bottom-center", bottom) + "}")
}

// hashWords spells a hex hash in the PGP word list, for reading aloud;
// what is not hex is left out.
func hashWords(h string) string {
	w, err := pgpwords.Hex(h)
	if err != nil {
		return ""
	}
	return "PGP words: " + w
}

// fullDetails is details without shortening: a deviation's reason is
// printed whole.
func fullDetails(raw json.RawMessage) string {
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return string(raw)
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		switch v := m[k].(type) {
		case nil, bool, float64:
			if v == nil || v == false || v == float64(0) {
				continue
			}
			parts = append(parts, fmt.Sprintf("%s=%v", k, v))
		case string:
			if v != "" {
				parts = append(parts, k+"="+v)
			}
		default:
			b, _ := json.Marshal(v)
			parts = append(parts, k+"="+string(b))
		}
	}
	return strings.Join(parts, " ")
}

// keyFingerprint names a witness's public key (hex) as the export names
// its signing key (export.Fingerprint).
func keyFingerprint(pubHex string) string {
	pub, err := hex.DecodeString(pubHex)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return "(malformed public key)"
	}
	return export.Fingerprint(pub)
}

// cardLine names a card presented in the ceremony with its label and
// custodian from the registry, and the reader it was read in.
func cardLine(a *app, serial, reader, class string) string {
	line := fmt.Sprintf("%s, read in %s (%s)", serial, reader, class)
	if c, ok := a.views.Inventory.Card(serial); ok {
		if c.Label != "" {
			line += fmt.Sprintf(", label %q", c.Label)
		}
		if c.Custodian != "" {
			line += ", custodian " + c.Custodian
		}
	}
	return line
}

// findingsAbout keeps the findings whose subject is this ceremony or an
// identifier its events name (a card serial, a key set id).
func findingsAbout(all []health.Finding, id string, recs []events.Record) []health.Finding {
	var out []health.Finding
	for _, f := range all {
		fs := strings.Fields(f.Subject)
		if len(fs) == 0 {
			continue
		}
		subj := fs[len(fs)-1]
		if subj == id {
			out = append(out, f)
			continue
		}
		quoted := `"` + subj + `"`
		for _, rec := range recs {
			if strings.Contains(string(rec.Payload), quoted) {
				out = append(out, f)
				break
			}
		}
	}
	return out
}
