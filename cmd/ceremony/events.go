package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/ceremony-hsm/ceremony/events"
	"github.com/spf13/cobra"
)

func newEventsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "events ID",
		Short: "One ceremony's events as a table (--json for JSON Lines)",
		Long: `One ceremony's events in order: position, time, source, type and the
payload's fields, then the length of the hash chain and its last hash.
With --json, the events exactly as stored, one JSON object a line.`,
		Example: `  ceremony events gen-1a2b3c4d
  ceremony events gen-1a2b3c4d --json > gen-1a2b3c4d.jsonl`,
		Args: ceremonyArg,
	}
	c := storeFlags(cmd)
	asJSON := cmd.Flags().Bool("json", false, "print the stored events as JSON Lines, exactly as stored")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		return runEvents(cmd.Context(), c, args[0], *asJSON, cmd.OutOrStdout())
	}
	return cmd
}

func runEvents(ctx context.Context, c *common, id string, asJSON bool, out io.Writer) error {
	one, err := c.openRead(ctx, out, id)
	if err != nil {
		return err
	}
	defer one.close()
	recs, err := one.records(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		for _, r := range recs {
			fmt.Fprintf(out, "%s\n", r.Data)
		}
		return nil
	}
	return printRecords(recs, out)
}

// printEvents prints a ceremony's events as a readable table.
func printEvents(ctx context.Context, a *app, id string, out io.Writer) error {
	recs, err := a.store.Load(ctx, id)
	if err != nil {
		return err
	}
	return printRecords(recs, out)
}

// printRecords prints events as a readable table.
func printRecords(recs []events.Record, out io.Writer) error {
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
