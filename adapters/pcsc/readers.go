package pcsc

import (
	"errors"

	"github.com/ebfe/scard"
)

// ReaderStatus is one reader as pcscd sees it now.
type ReaderStatus struct {
	Name    string
	Present bool
	ATR     []byte
}

// Readers lists the readers and whether a card is in each.
func Readers() ([]ReaderStatus, error) {
	c, err := scard.EstablishContext()
	if err != nil {
		return nil, wrap("connect to pcscd", "", err)
	}
	defer c.Release()
	names, err := c.ListReaders()
	if errors.Is(err, scard.ErrNoReadersAvailable) {
		return nil, nil
	}
	if err != nil {
		return nil, wrap("list the readers", "", err)
	}
	rs := make([]scard.ReaderState, len(names))
	for i, n := range names {
		rs[i] = scard.ReaderState{Reader: n, CurrentState: scard.StateUnaware}
	}
	if err := c.GetStatusChange(rs, 0); err != nil && !errors.Is(err, scard.ErrTimeout) {
		return nil, wrap("read the reader states", "", err)
	}
	out := make([]ReaderStatus, len(names))
	for i, r := range rs {
		out[i] = ReaderStatus{Name: r.Reader, Present: r.EventState&scard.StatePresent != 0, ATR: append([]byte(nil), r.Atr...)}
	}
	return out, nil
}
