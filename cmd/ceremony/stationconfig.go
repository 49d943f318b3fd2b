package main

import (
	"errors"

	"github.com/ceremony-hsm/ceremony/internal/stationconfig"
	"github.com/spf13/cobra"
)

// configFlag is the root's persistent --config: the station config file
// (README.md, "Station config file").
const configFlag = "config"

// applyConfig reads the station config file named by --config, if any,
// and sets the flags of cmd the command line left unset: flags win, the
// file fills the rest (stationconfig.Config.Settings). A flag the command
// does not have is not its business: 'ceremony list' takes no --reader.
func applyConfig(cmd *cobra.Command) error {
	f := cmd.Flags().Lookup(configFlag)
	if f == nil || f.Value.String() == "" {
		return nil
	}
	cfg, err := stationconfig.Load(f.Value.String())
	if err != nil {
		var errs stationconfig.Errors
		if errors.As(err, &errs) {
			return usagef("--config: the station config file has errors ('ceremony config check %s' checks it):\n%v", f.Value.String(), err)
		}
		return usagef("--config %s: %v", f.Value.String(), err)
	}
	fs := cmd.Flags()
	changed := func(name string) (string, bool) {
		if fl := fs.Lookup(name); fl != nil && fl.Changed {
			return fl.Value.String(), true
		}
		return "", false
	}
	for _, s := range cfg.Settings(changed) {
		if fs.Lookup(s.Flag) == nil {
			continue
		}
		if err := fs.Set(s.Flag, s.Value); err != nil {
			return usagef("%s:%d: %s: %v", cfg.File, s.Line, s.Flag, err)
		}
	}
	return nil
}
