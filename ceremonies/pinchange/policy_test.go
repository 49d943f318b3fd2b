package pinchange

import (
	"strings"
	"testing"
)

func TestPolicy(t *testing.T) {
	cases := []struct {
		old, new, repeat string
		rule             string
	}{
		{"11223344", "55667788", "55667788", ""},
		{"11223344", "556677", "556677", ""},
		{"11223344", "55667788", "55667789", "differ"},
		{"11223344", "12345", "12345", "6 to 16 digits"},
		{"11223344", "12345678901234567", "12345678901234567", "6 to 16 digits"},
		{"11223344", "5566778a", "5566778a", "digits only"},
		{"11223344", "123456", "123456", "factory default"},
		{"11223344", "11223344", "11223344", "equals the old"},
	}
	for _, tc := range cases {
		got := Policy([]byte(tc.old), []byte(tc.new), []byte(tc.repeat))
		if (tc.rule == "") != (got == "") || !strings.Contains(got, tc.rule) {
			t.Errorf("Policy(%q, %q, %q) = %q, want %q", tc.old, tc.new, tc.repeat, got, tc.rule)
		}
		if got != "" && tc.new != "123456" && (strings.Contains(got, tc.new) || strings.Contains(got, tc.old)) { // the default is public
			t.Errorf("the rule %q quotes a PIN", got)
		}
	}
}
