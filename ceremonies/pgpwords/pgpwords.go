// Package pgpwords spells bytes as the PGP word list (Juola and
// Zimmermann's "biometric" word list of PGPfone): a byte at an even
// position is one of 256 two-syllable words, at an odd position one of
// 256 three-syllable words, so a hash can be read aloud and a dropped or
// swapped word is heard. The list is wordlist.txt, taken from IANA's
// DNSSEC key ceremony tools (see its header).
package pgpwords

import (
	_ "embed"
	"encoding/hex"
	"fmt"
	"strings"
)

//go:embed wordlist.txt
var wordlist string

var even, odd = parse(wordlist)

func parse(text string) (ev, od [256]string) {
	n := 0
	for _, line := range strings.Split(text, "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		var b int
		f := strings.Fields(line)
		if len(f) != 3 {
			panic(fmt.Sprintf("pgpwords: bad line %q", line))
		}
		if _, err := fmt.Sscanf(f[0], "%X", &b); err != nil || b != n {
			panic(fmt.Sprintf("pgpwords: line %q out of order (want byte %02X)", line, n))
		}
		ev[b], od[b] = f[1], f[2]
		n++
	}
	if n != 256 {
		panic(fmt.Sprintf("pgpwords: %d entries, want 256", n))
	}
	return ev, od
}

// Encode spells b, one word per byte.
func Encode(b []byte) string {
	words := make([]string, len(b))
	for i, c := range b {
		if i%2 == 0 {
			words[i] = even[c]
		} else {
			words[i] = odd[c]
		}
	}
	return strings.Join(words, " ")
}

// Hex spells a hex string (spaces allowed, as in a printed fingerprint).
func Hex(h string) (string, error) {
	b, err := hex.DecodeString(strings.ReplaceAll(h, " ", ""))
	if err != nil {
		return "", fmt.Errorf("pgpwords: %q is not hex: %w", h, err)
	}
	return Encode(b), nil
}
