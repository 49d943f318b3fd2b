package main

import (
	"slices"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/internal/stationconfig"
	"github.com/spf13/cobra"
)

// refuseDualControl refuses to start kind k from the terminal when the
// station puts it under dual control: its station config
// (dual_control) or the service running on its data directory ('serve
// --dual-control', announced in serve.json). A second operator's
// approval is an authenticated account's, taken in the console; a name
// typed at this terminal cannot stand for a second person
// (ARCHITECTURE.md, "Console").
func refuseDualControl(cmd *cobra.Command, c *common, k ceremonies.Kind) error {
	var where string
	if f := cmd.Flags().Lookup(configFlag); f != nil && f.Value.String() != "" {
		// applyConfig has read the file already: an error here was told.
		if cfg, err := stationconfig.Load(f.Value.String()); err == nil && slices.Contains(cfg.DualControl, k.Name()) {
			where = "the station config " + cfg.File + " (dual_control)"
		}
	}
	if where == "" && len(c.nats.urls) == 0 {
		c.resolveDataDir()
		if svc, err := readService(c.dataDir); err == nil && svc != nil && svc.alive() && slices.Contains(svc.DualControl, k.Name()) {
			where = "the service on " + c.dataDir + " ('serve --dual-control')"
		}
	}
	if where == "" {
		return nil
	}
	return usagef("%s is under dual control at this station (%s): a second operator must approve it, from their own logged-in session, before its first card step, and a name typed at this terminal cannot stand for a second person: start it in the web console ('ceremony serve --http --dual-control %s ...'), where another operator approves it", k.Name(), where, k.Name())
}
