package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/ceremonies/script"
	"github.com/ceremony-hsm/ceremony/events"
)

const scriptExample = `title: Backup Key 2026, data centre A
kind: backup-key-generate
params:
  quorum: 2-of-3
unscripted: refuse        # or: deviation (go on, and record it)
operators: [alice]
custodians:
  - name: Carol Custodian
    card: FFFE00004001
  - name: Dan Custodian
    card: FFFE00004002
  - name: Erin Custodian
    card: FFFE00004003
witnesses:
  - name: Wendy Witness
    role: auditor
approvals:
  - role: security officer
steps:
  - Read the purpose of the ceremony aloud.
  - Check the HSM's tamper seals against the log.`

// newScriptCmd builds "script": check a ceremony script, or print it as
// the checklist the participants sign.
func newScriptCmd() *cobra.Command {
	g := group("script", "Check a reviewed ceremony script, or print it as a checklist", `A ceremony script is a YAML file, reviewed before the day, that fixes a
ceremony: its kind and parameters, the custodians and the card each
brings, the witnesses and approvals required, and the steps read aloud.
Unknown keys are errors. A start command given --script FILE takes its
parameters from the script, records the file's SHA-256, refuses (or, with
'unscripted: deviation', records) any card or operator the script does
not name, and has the operator check off each step; the report lists the
hash and the steps with their times.

Example script:

`+scriptExample)
	check := &cobra.Command{
		Use:     "check FILE",
		Short:   "Validate a ceremony script; errors name the line",
		Example: "  ceremony script check gen-2026.yaml",
		Args:    oneArg("the script file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScript(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: a valid %s script, SHA-256 %s (%d custodians, %d witnesses, %d approvals, %d steps).\n",
				args[0], s.Kind, s.SHA256, len(s.Custodians), len(s.Witnesses), len(s.Approvals), len(s.Steps))
			return nil
		},
	}
	render := &cobra.Command{
		Use:     "render FILE",
		Short:   "Print a ceremony script as the checklist the participants sign",
		Example: "  ceremony script render gen-2026.yaml > gen-2026-checklist.txt",
		Args:    oneArg("the script file"),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, err := loadScript(args[0])
			if err != nil {
				return err
			}
			return s.Render(cmd.OutOrStdout())
		},
	}
	g.AddCommand(check, render)
	return g
}

// loadScript reads and checks a script against the kinds this build can
// start; a bad script is a usage error listing every problem with its line.
func loadScript(file string) (*script.Script, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, usagef("the script: %v", err)
	}
	s, err := script.Parse(file, data)
	if err == nil {
		err = s.Check(scriptKinds())
	}
	var es script.Errors
	if errors.As(err, &es) {
		return nil, usagef("the script is not valid:\n%v", es)
	}
	return s, err
}

// scriptKinds describes every kind with a Start for script.Check: its
// parameters, checked with the defaults filled in.
func scriptKinds() []script.KindInfo {
	var out []script.KindInfo
	for _, k := range kinds.List() {
		if k.Start == nil {
			continue
		}
		s := k.Start
		info := script.KindInfo{Name: k.Name()}
		for _, p := range s.Params {
			info.Params = append(info.Params, p.Name)
		}
		info.Check = func(given map[string]string) error {
			if s.Check == nil {
				return nil
			}
			return s.Check(scriptParams(s, given))
		}
		out = append(out, info)
	}
	return out
}

// scriptParams are a Start's parameters: the script's values over the
// defaults.
func scriptParams(s *ceremonies.Start, given map[string]string) ceremonies.Params {
	p := ceremonies.Params{}
	for _, d := range s.Params {
		p[d.Name] = d.Default
	}
	for n, v := range given {
		p[n] = v
	}
	return p
}

// scriptOf returns the script binding of a ceremony from its events, nil
// when it was not started from a script.
func scriptOf(ctx context.Context, a *app, id string) (*ceremonies.Scripted, error) {
	recs, err := a.store.Load(ctx, id)
	if err != nil {
		return nil, err
	}
	reg := a.eng.Registry()
	var ps []events.Payload
	for _, rec := range recs {
		if rec.Type != (events.ScriptBound{}).EventType() && rec.Type != (events.ScriptStepChecked{}).EventType() {
			continue
		}
		p, err := reg.DecodePayload(rec.Envelope)
		if err != nil {
			return nil, err
		}
		ps = append(ps, p)
	}
	return ceremonies.ScriptedFrom(ps), nil
}

// scriptStart is what a start command does with --script: the script's
// parameters replace the flags (a parameter flag given too is an error:
// the reviewed script is what runs), and the binding is recorded after
// the first event.
type scriptStart struct {
	s    *script.Script
	file string
}

func startScript(cmd *cobra.Command, k ceremonies.Kind, file string) (*scriptStart, ceremonies.Params, error) {
	s, err := loadScript(file)
	if err != nil {
		return nil, nil, err
	}
	if s.Kind != k.Name() {
		return nil, nil, usagef("the script %s is for a %s ceremony, not %s: start it with the command of that kind", file, s.Kind, k.Name())
	}
	for _, p := range k.Start.Params {
		if cmd.Flags().Changed(p.Name) {
			return nil, nil, usagef("--%s and --script: the script fixes the parameters; change the script (and review it again) instead", p.Name)
		}
	}
	params := scriptParams(k.Start, s.Params)
	if len(s.Witnesses) > 0 { // the list sets the count ('script check' refuses a count that differs)
		params[ceremonies.WitnessesParam.Name] = strconv.Itoa(len(s.Witnesses))
	}
	return &scriptStart{s: s, file: filepath.Base(file)}, params, nil
}

// nameWitnesses puts the witnesses the script lists into the requirement
// the start records (ceremony.witnesses_required).
func (ss *scriptStart) nameWitnesses(first []events.Payload) {
	for _, p := range first {
		if wr, ok := p.(*events.WitnessesRequired); ok {
			wr.Named = ss.s.Bound(ss.file).Witnesses
		}
	}
}

// events returns the binding and, when the operator is not among the
// script's operators and the script says to go on, the deviation; when it
// says to refuse, an error.
func (ss *scriptStart) events(operator string) ([]events.Payload, error) {
	out := []events.Payload{ss.s.Bound(ss.file)}
	if len(ss.s.Operators) > 0 && !ceremonies.Names(ss.s.Operators, operator) {
		msg := fmt.Sprintf("operator %q is not named in the script %s (it names %v)", operator, ss.file, ss.s.Operators)
		if ss.s.Policy() == script.Refuse {
			return nil, usagef("%s: the script refuses an unscripted operator", msg)
		}
		out = append(out, &events.Unscripted{What: "operator", Name: operator, Message: msg})
	}
	return out, nil
}
