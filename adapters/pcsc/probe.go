package pcsc

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ebfe/scard"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// ErrHeld: another process has the card to itself (a PC/SC transaction or
// an exclusive connection), as a ceremony's step does for its length.
var ErrHeld = errors.New("another process holds the card exclusively (a running ceremony?)")

// CardInfo is what Probe reads of a card without spending a PIN try.
type CardInfo struct {
	// OpenPGP is false when the card answers the SELECT of the OpenPGP
	// application with an error: the other fields are then empty.
	OpenPGP bool
	// Serial is the manufacturer and serial number as
	// openpgp.AID.SerialString gives them (e.g. "FFFE00000001").
	Serial string
	// TriesPW1 and TriesPW3 are the PINs' retry counters (DO C4); -1
	// when they could not be read (then Probe's error says why).
	TriesPW1, TriesPW3 int
}

// Probe reads the OpenPGP serial and the retry counters of the card in
// reader (SELECT, GET DATA 4F and C4: no PIN try is spent) over a shared
// connection of its own, in one transaction, and leaves the card as it
// was.
//
// pcsc-lite waits without end for a card another process holds (its
// SCardBeginTransaction retries until the holder ends its transaction), so
// Probe gives up after timeout with an error wrapping ErrHeld, and at once
// when ctx ends (ctx's error). The waiting call is left to end by itself
// (when the holder lets go, or with the process); its context is released
// then. Each Probe has its own context, so a waiting one blocks no other.
func Probe(ctx context.Context, reader string, timeout time.Duration) (CardInfo, error) {
	if err := ctx.Err(); err != nil {
		return CardInfo{}, err
	}
	sc, err := scard.EstablishContext()
	if err != nil {
		return CardInfo{}, wrap("connect to pcscd", reader, err)
	}
	type result struct {
		info CardInfo
		err  error
	}
	done := make(chan result, 1)
	go func() {
		info, err := probeOn(sc, reader)
		done <- result{info, err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case r := <-done:
		sc.Release()
		return r.info, r.err
	case <-t.C:
		err = &Error{Op: fmt.Sprintf("read the card (waited %v)", timeout), Reader: reader, Code: scard.ErrSharingViolation, Err: ErrHeld}
	case <-ctx.Done():
		err = ctx.Err()
	}
	// The probe's goroutine may be blocked in pcsc-lite (pcscd's
	// SCardConnect waits for the holder's lock without end). Its context is
	// released once it returns, not before: pcsc-lite's SCardReleaseContext
	// would wait for the blocked call's lock while holding the library's
	// global one, and stop every other PC/SC call of this process.
	go func() {
		<-done
		sc.Release()
	}()
	return CardInfo{TriesPW1: -1, TriesPW3: -1}, err
}

// probeOn does Probe's reads on sc.
func probeOn(sc *scard.Context, reader string) (CardInfo, error) {
	info := CardInfo{TriesPW1: -1, TriesPW3: -1}
	card, err := sc.Connect(reader, scard.ShareShared, scard.ProtocolAny)
	if errors.Is(err, scard.ErrSharingViolation) {
		return info, &Error{Op: "connect to the card", Reader: reader, Code: scard.ErrSharingViolation, Err: ErrHeld}
	}
	if err != nil {
		return info, wrap("connect to the card", reader, err)
	}
	defer card.Disconnect(scard.LeaveCard)
	if err := card.BeginTransaction(); err != nil {
		return info, wrap("begin a transaction", reader, err)
	}
	defer card.EndTransaction(scard.LeaveCard)
	c := openpgp.NewClient(cardTransport{card: card, reader: reader})
	if err := c.Select(); err != nil {
		var ce *openpgp.CardError
		if errors.As(err, &ce) {
			return info, nil
		}
		return info, err
	}
	info.OpenPGP = true
	aid, err := c.AID()
	if err != nil {
		return info, err
	}
	info.Serial = aid.SerialString()
	st, err := c.PWStatus()
	if err != nil {
		return info, err
	}
	info.TriesPW1, info.TriesPW3 = int(st.TriesPW1), int(st.TriesPW3)
	return info, nil
}
