package jetstream

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/ceremony-hsm/ceremony/events"
)

// Subjects (ARCHITECTURE.md, "Events"): every event of a ceremony is stored on
// ceremony.<ceremony id>.<event type>; the type has dots, so one ceremony is
// the filter ceremony.<ceremony id>.>. Ceremony ids cannot contain dots
// (events.ValidCeremonyID), so no filter matches another ceremony.

// eventSubject returns the subject of an event of ceremonyID and type typ.
func eventSubject(ceremonyID, typ string) string { return "ceremony." + ceremonyID + "." + typ }

// isEventSubject reports whether subject is eventSubject(ceremonyID, typ),
// without building it (a read checks it for every event).
func isEventSubject(subject, ceremonyID, typ string) bool {
	rest, ok := strings.CutPrefix(subject, "ceremony.")
	if !ok {
		return false
	}
	if rest, ok = strings.CutPrefix(rest, ceremonyID); !ok {
		return false
	}
	return len(rest) == len(typ)+1 && rest[0] == '.' && rest[1:] == typ
}

// ceremonyFilter returns the subject filter of every event of ceremonyID.
func ceremonyFilter(ceremonyID string) string { return "ceremony." + ceremonyID + ".>" }

// checkCeremonyID refuses an id that would not be one subject token.
func checkCeremonyID(op, ceremonyID string) error {
	if !events.ValidCeremonyID(ceremonyID) {
		return fmt.Errorf("jetstream: %s: ceremony id %q: want 1-64 letters, digits, '-' or '_'", op, ceremonyID)
	}
	return nil
}

// checkEventType refuses a type that would not make a literal subject:
// empty tokens, wildcards, spaces or control characters.
func checkEventType(typ string) error {
	for tok := range strings.SplitSeq(typ, ".") {
		bad := strings.ContainsFunc(tok, func(r rune) bool {
			return r == '*' || r == '>' || unicode.IsSpace(r) || unicode.IsControl(r)
		})
		if tok == "" || bad {
			return fmt.Errorf("event type %q cannot be a subject: want dot-separated non-empty words without spaces, '*' or '>'", typ)
		}
	}
	return nil
}
