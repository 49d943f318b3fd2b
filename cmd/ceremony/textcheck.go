package main

import (
	"unicode/utf8"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// checkText refuses a flag value or an argument that is not valid UTF-8
// (an operator's name, a reason, a label typed on a terminal in another
// encoding): the store would keep it with U+FFFD in place of the bytes,
// silently. Run for every command before it does anything.
func checkText(cmd *cobra.Command, args []string) error {
	var bad error
	cmd.Flags().Visit(func(f *pflag.Flag) {
		if v := f.Value.String(); bad == nil && !utf8.ValidString(v) {
			bad = usagef("--%s: the text is not valid UTF-8 (a byte at position %d is not): give it again in UTF-8 (set the terminal's encoding to UTF-8)", f.Name, firstInvalid(v))
		}
	})
	if bad != nil {
		return bad
	}
	for i, a := range args {
		if !utf8.ValidString(a) {
			return usagef("argument %d: the text is not valid UTF-8 (a byte at position %d is not): give it again in UTF-8", i+1, firstInvalid(a))
		}
	}
	return nil
}

// firstInvalid is the 1-based byte position of the first invalid UTF-8 byte.
func firstInvalid(s string) int {
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return i + 1
		}
		i += n
	}
	return 0
}
