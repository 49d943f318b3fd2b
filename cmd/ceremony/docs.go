package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// docsDir is where the generated command reference is checked in,
// relative to the repository root.
const docsDir = "docs/cli"

// newDocsCmd writes the markdown reference of every command, generated
// from the commands themselves. Hidden: it is for the repository, not the
// operator.
func newDocsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:    "docs",
		Short:  "Write the markdown reference of every command into --out",
		Hidden: true,
		Args:   noArgs,
	}
	out := cmd.Flags().String("out", docsDir, "the directory to write; its ceremony*.md files are replaced")
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := writeDocs(cmd.Root(), *out); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "wrote the command reference to %s\n", *out)
		return nil
	}
	return cmd
}

// writeDocs replaces the ceremony*.md files in dir with the reference of
// root's command tree, without the date footer, so that the same commands
// always give the same files.
func writeDocs(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	old, err := filepath.Glob(filepath.Join(dir, "ceremony*.md"))
	if err != nil {
		return err
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return err
		}
	}
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	var noDate func(*cobra.Command)
	noDate = func(c *cobra.Command) {
		c.DisableAutoGenTag = true
		for _, sub := range c.Commands() {
			noDate(sub)
		}
	}
	noDate(root)
	return doc.GenMarkdownTree(root, dir)
}
