package rehearsal

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// Operator is a simulated operator who answers whatever the PIN pad asks:
// OK to every question, the PIN of the card in the reader at every PIN
// prompt, and, through Choose, the card a ceremony needs next. Crash
// rehearsals use it to drive a ceremony from any point.
type Operator struct {
	Hand *Hand
	PINs map[string]string // card serial -> PIN (the card's both slots)
	// NewPIN answers the prompts for a new PIN ("New PIN", "Repeat new
	// PIN", "Enter new PIN"); every other PIN prompt gets the card's PIN.
	NewPIN string
	Out    io.Writer // the display, may be nil
}

// Show implements ceremonies.PinPad.
func (o *Operator) Show(line1, line2 string) {
	if o.Out != nil {
		fmt.Fprintf(o.Out, "  [PIN pad] %-16s | %s\n", line1, line2)
	}
	o.Hand.OnShow(line1, line2)
}

// Confirm implements ceremonies.PinPad: OK, unless the hand failed (it
// could not bring the card the ceremony needs): then its error, which
// stops the run with what went wrong.
func (o *Operator) Confirm(ctx context.Context) (bool, error) {
	if err := o.Hand.Err(); err != nil {
		return false, err
	}
	return true, ctx.Err()
}

// EnterPIN implements ceremonies.PinPad: the PIN of the card in the reader.
func (o *Operator) EnterPIN(ctx context.Context, line1, line2 string) ([]byte, error) {
	o.Show(line1, line2)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	c := o.Hand.Reader.Card()
	if c == nil {
		return nil, fmt.Errorf("rehearsal: a PIN is asked with no card in the reader")
	}
	pin, ok := o.PINs[c.Serial()]
	if !ok {
		return nil, fmt.Errorf("rehearsal: no PIN known for card %s", c.Serial())
	}
	if o.NewPIN != "" && (line1 == "New PIN" || line1 == "Repeat new PIN" || line1 == "Enter new PIN") {
		pin = o.NewPIN
	}
	if o.Out != nil {
		fmt.Fprintf(o.Out, "  [PIN pad] %-16s | %s\n", line1, strings.Repeat("*", len(pin)))
	}
	return []byte(pin), nil
}

var _ ceremonies.PinPad = (*Operator)(nil)

// CardsBySerial returns a Card lookup over cards, by name and serial.
func CardsBySerial(cards map[string]*cardemu.Card) func(string) (*cardemu.Card, error) {
	return func(name string) (*cardemu.Card, error) {
		if c, ok := cards[name]; ok {
			return c, nil
		}
		for _, c := range cards {
			if c.Serial() == name {
				return c, nil
			}
		}
		return nil, fmt.Errorf("rehearsal: no card %q", name)
	}
}
