package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// addStartCmds adds one command per kind that declares a Start
// (ceremonies.Kind.Start): "generate", "pin change", ... A command path of
// two words goes under a group made for its first word.
func addStartCmds(root *cobra.Command, groupID string) {
	for _, k := range kinds.List() {
		if k.Start == nil {
			continue
		}
		path := strings.Fields(k.Start.Command)
		parent := root
		for _, name := range path[:len(path)-1] {
			parent = subgroup(parent, name, k.Start.Group, groupID)
		}
		cmd := newStartCmd(k, path[len(path)-1])
		if parent == root {
			cmd.GroupID = groupID
		}
		parent.AddCommand(cmd)
	}
}

// subgroup returns parent's command group name, made if missing.
func subgroup(parent *cobra.Command, name, short, groupID string) *cobra.Command {
	for _, c := range parent.Commands() {
		if c.Name() == name {
			return c
		}
	}
	g := group(name, short, "")
	if !parent.HasParent() {
		g.GroupID = groupID
	}
	parent.AddCommand(g)
	return g
}

// newStartCmd builds the command that starts a ceremony of kind k and
// drives it at the operator's station.
func newStartCmd(k ceremonies.Kind, use string) *cobra.Command {
	s := k.Start
	cmd := &cobra.Command{Use: use, Short: s.Short, Long: s.Long, Example: s.Example, Args: noArgs}
	c := storeFlags(cmd)
	fs := cmd.Flags()
	var sf stationFlags
	sf.register(fs, k.Needs, true)
	values := map[string]func() string{}
	for _, p := range s.Params {
		if p.Int {
			def, err := strconv.Atoi(p.Default)
			if err != nil {
				panic(fmt.Sprintf("kind %s: parameter %s: default %q is not a number", k.Name(), p.Name, p.Default))
			}
			v := fs.Int(p.Name, def, p.Usage)
			values[p.Name] = func() string { return strconv.Itoa(*v) }
			continue
		}
		v := fs.String(p.Name, p.Default, p.Usage)
		values[p.Name] = func() string { return *v }
	}
	id := fs.String("id", "", fmt.Sprintf("ceremony id (default: %s-<random>)", s.IDPrefix))
	var bf backupFlags
	bf.register(fs)
	scriptFile := fs.String("script", "", "start from a reviewed ceremony script (see 'ceremony script'): its parameters, cards and people; its SHA-256 is recorded")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		ctx, in, out := cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout()
		backup, err := bf.autoBackup(cmd.ErrOrStderr())
		if err != nil {
			return err
		}
		params := ceremonies.Params{}
		for name, v := range values {
			params[name] = v()
		}
		var scripted *scriptStart
		if *scriptFile != "" {
			var err error
			if scripted, params, err = startScript(cmd, k, *scriptFile); err != nil {
				return err
			}
		}
		if s.Check != nil {
			if err := usageOf(s.Check(params)); err != nil {
				return err
			}
		}
		if sf.operator == "" {
			return usagef("--operator is required: the events record who ran the ceremony")
		}
		if err := refuseDualControl(cmd, c, k); err != nil {
			return err
		}
		if *id == "" {
			*id = s.IDPrefix + "-" + engine.RandomID()[:8]
		}
		var bound []events.Payload
		if scripted != nil {
			var err error
			if bound, err = scripted.events(sf.operator); err != nil {
				return err
			}
		}
		b, err := sf.openBench(ctx, k.Needs, credentialRequired, in, out)
		if err != nil {
			return err
		}
		defer b.close()
		if b.app, err = c.open(ctx, out); err != nil {
			return err
		}
		defer b.app.close()
		b.app.backup = backup
		b.app.follow(ctx, out)
		at := ceremonies.StartInfo{Operator: sf.operator, Inventory: b.app.views.Inventory}
		if b.station.Reader != nil {
			at.Reader = b.station.Reader.Name()
		}
		if b.station.HSM != nil {
			at.HSM = b.station.HSM.Name()
		}
		if b.station.Slots != nil {
			at.Slot = b.station.Slots.Name()
		}
		first, err := s.Begin(params, at)
		if err != nil {
			return usageOf(err)
		}
		if scripted != nil {
			scripted.nameWitnesses(first)
		}
		inst, err := b.app.eng.Start(ctx, k.Name(), *id, events.SourceOperator, first[0])
		if err != nil {
			return err
		}
		after := append(first[1:], events.Payload(sf.describeStation(b.station)))
		for _, p := range append(after, bound...) {
			if err := inst.Record(ctx, events.SourceOperator, p); err != nil {
				return err
			}
		}
		fmt.Fprintf(out, "Ceremony %s (%s) started.\n", inst.ID(), k.Name())
		return b.runKind(ctx, k, inst, false, out)
	}
	return cmd
}

// usageOf turns a kind's *ceremonies.UsageError into the CLI's (exit 2).
func usageOf(err error) error {
	var ue *ceremonies.UsageError
	if errors.As(err, &ue) {
		return usagef("%s", ue.Msg)
	}
	return err
}
