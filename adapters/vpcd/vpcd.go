// Package vpcd plugs an emulated OpenPGP card (adapters/cardemu) into a
// vsmartcard vpcd reader of a pcscd, so that real PC/SC clients (GnuPG's
// scdaemon, OpenSC, pcsc-lite programs) talk to the same emulator the
// in-process tests use. It plays the "virtual ICC" side of vpcd's protocol
// over TCP; there is no second card implementation.
//
// The protocol (vsmartcard vpcd): every message both ways is a 2-byte
// big-endian length and a payload. One-byte payloads from vpcd are controls:
// 00 power off, 01 power on, 02 reset (none of them answered), 04 get ATR
// (answered with the ATR; pcscd asks every 400 ms or so to see whether the
// card is still there). Longer payloads are command APDUs, answered with
// card.Process's response APDU. Closing the connection removes the card.
//
// Rules a caller must know:
//
//   - While inserted, the card belongs to that vpcd reader: do not use it
//     through a cardemu.Reader or call Process on it yourself at the same
//     time (Insert refuses a card already inserted through this package,
//     but cannot see a cardemu.Reader). Remove it from any cardemu.Reader
//     first.
//   - Insert returns once vpcd has talked to the card (it asks for the ATR
//     at its next poll). pcscd then reports the card present shortly after;
//     PC/SC clients should wait for it (SCardGetStatusChange or polling)
//     rather than assume it.
//   - Power on, power off and reset clear the card's volatile state (PIN
//     verification, selection): a client must SELECT and VERIFY again after
//     each, as with a real card. Insert powers the card on too.
//   - A torn write (cardemu.Card.TearNextWrite: Process returns nil) cuts the
//     power: the connection is closed, the card leaves the reader, and Err
//     reports ErrPowerLost. The card's image holds what the tear left.
//   - The session ends on Remove (Err is nil), when ctx ends (Err wraps
//     ctx.Err()), when vpcd closes the connection (pcscd stopped or killed:
//     Err wraps ErrReaderGone) or on a protocol error. Done is closed then.
//     A new Insert is needed to put the card back.
//   - Nothing here logs, and errors never contain APDU or response bytes
//     (they may hold PINs or secret shares). Buffers holding them are
//     zeroed after use.
package vpcd

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
)

// vpcd control messages (one-byte payloads).
const (
	ctrlOff   = 0x00
	ctrlOn    = 0x01
	ctrlReset = 0x02
	ctrlATR   = 0x04
)

// firstContactTimeout bounds how long Insert waits for vpcd's first message
// when ctx has no earlier deadline.
const firstContactTimeout = 10 * time.Second

// Errors reported by Err (wrapped).
var (
	// ErrPowerLost: the card lost power in a torn write and was pulled.
	ErrPowerLost = errors.New("the card lost power during a command (torn write) and was pulled")
	// ErrReaderGone: vpcd closed the connection (pcscd stopped or was killed).
	ErrReaderGone = errors.New("vpcd closed the connection (pcscd stopped?)")
	// ErrProtocol: vpcd sent something this package does not understand.
	ErrProtocol = errors.New("vpcd protocol error")
)

// inserted tracks the cards currently inserted through this package, so
// that one card is not in two readers.
var (
	insertedMu sync.Mutex
	inserted   = map[*cardemu.Card]bool{}
)

// Inserted is one card in one vpcd reader: a session that lasts until
// Remove, the end of ctx, or vpcd closing the connection.
type Inserted struct {
	conn *net.TCPConn
	card *cardemu.Card
	ctx  context.Context
	addr string
	pad  Keypad // nil: a plain vpcd reader

	contact chan struct{} // closed after the first message from vpcd was served
	done    chan struct{} // closed when the session ended
	err     error         // why it ended; written before done is closed

	removeOnce sync.Once
	mu         sync.Mutex
	removed    bool
}

// Insert connects to vpcd at addr ("127.0.0.1:PORT", see
// pcscdtest.Daemon.VpcdAddr): the card is then in that reader. It serves
// vpcd's messages until Remove, ctx ends, or vpcd closes the connection.
// ctx bounds the whole session, not just the connect: a ctx with a timeout
// pulls the card when it expires (in tests use t.Context()). Insert returns
// once vpcd has sent its first message, or an error if it could not connect
// or vpcd stayed silent (until ctx ends, at most 10 s).
func Insert(ctx context.Context, addr string, card *cardemu.Card) (*Inserted, error) {
	return insertCard(ctx, addr, card, nil)
}

func insertCard(ctx context.Context, addr string, card *cardemu.Card, pad Keypad) (*Inserted, error) {
	if card == nil {
		return nil, fmt.Errorf("vpcd: insert into %s: no card given", addr)
	}
	insertedMu.Lock()
	if inserted[card] {
		insertedMu.Unlock()
		return nil, fmt.Errorf("vpcd: insert into %s: card %s is already inserted in a vpcd reader: Remove it first", addr, card.Serial())
	}
	inserted[card] = true
	insertedMu.Unlock()
	release := func() {
		insertedMu.Lock()
		delete(inserted, card)
		insertedMu.Unlock()
	}

	var dialer net.Dialer
	c, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		release()
		return nil, fmt.Errorf("vpcd: connect to the reader at %s (is pcscd running with the vpcd driver on that port?): %w", addr, err)
	}
	conn := c.(*net.TCPConn)
	conn.SetNoDelay(true)

	card.PowerOn() // inserting powers the card on
	in := &Inserted{
		conn:    conn,
		card:    card,
		ctx:     ctx,
		addr:    addr,
		pad:     pad,
		contact: make(chan struct{}),
		done:    make(chan struct{}),
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	go func() {
		err := in.serve()
		stop()
		conn.Close()
		release()
		in.err = in.reason(err)
		close(in.done)
	}()

	timer := time.NewTimer(firstContactTimeout)
	defer timer.Stop()
	select {
	case <-in.contact:
		return in, nil
	case <-in.done:
		return nil, fmt.Errorf("vpcd: insert into %s: the session ended before vpcd talked to the card: %w", addr, in.err)
	case <-timer.C:
		in.Remove()
		return nil, fmt.Errorf("vpcd: insert into %s: vpcd sent nothing for %v: is this a vpcd reader port, and is pcscd polling it?", addr, firstContactTimeout)
	case <-ctx.Done():
		<-in.done
		return nil, fmt.Errorf("vpcd: insert into %s: waiting for vpcd: %w", addr, ctx.Err())
	}
}

// Remove closes the connection: the card leaves the reader (pcscd notices
// within about half a second). It waits until the session has ended and is
// safe to call more than once and after the session ended otherwise.
func (i *Inserted) Remove() error {
	i.removeOnce.Do(func() {
		i.mu.Lock()
		i.removed = true
		i.mu.Unlock()
		i.conn.Close()
	})
	<-i.done
	return nil
}

// Done returns a channel closed when the session ended for any reason.
func (i *Inserted) Done() <-chan struct{} { return i.done }

// Err returns why the session ended: nil while it runs and after Remove;
// otherwise an error wrapping ctx.Err(), ErrReaderGone, ErrPowerLost or
// ErrProtocol (or the network error).
func (i *Inserted) Err() error {
	select {
	case <-i.done:
		return i.err
	default:
		return nil
	}
}

// reason turns serve's error into the session's Err.
func (i *Inserted) reason(err error) error {
	i.mu.Lock()
	removed := i.removed
	i.mu.Unlock()
	switch {
	case errors.Is(err, ErrPowerLost) || errors.Is(err, ErrProtocol):
		return fmt.Errorf("vpcd: reader %s: %w", i.addr, err)
	case removed:
		return nil
	case i.ctx.Err() != nil:
		return fmt.Errorf("vpcd: reader %s: card removed because the context ended: %w", i.addr, i.ctx.Err())
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, unix.ECONNRESET):
		return fmt.Errorf("vpcd: reader %s: %w", i.addr, ErrReaderGone)
	default:
		return fmt.Errorf("vpcd: reader %s: %w: %w", i.addr, ErrReaderGone, err)
	}
}

// serve answers vpcd's messages until the connection fails or the card
// loses power.
func (i *Inserted) serve() error {
	var hdr [2]byte
	contacted := false
	for {
		if err := i.quickAck(); err != nil {
			return err
		}
		if _, err := io.ReadFull(i.conn, hdr[:]); err != nil {
			return err
		}
		n := int(binary.BigEndian.Uint16(hdr[:]))
		msg := make([]byte, n)
		if _, err := io.ReadFull(i.conn, msg); err != nil {
			clear(msg)
			return err
		}
		resp, reply, err := i.handle(msg)
		clear(msg)
		if err != nil {
			return err
		}
		if reply {
			err = i.send(resp)
			clear(resp)
			if err != nil {
				return err
			}
		}
		if !contacted {
			contacted = true
			close(i.contact)
		}
	}
}

// handle runs one message from vpcd and returns the reply, if one is due.
func (i *Inserted) handle(msg []byte) (resp []byte, reply bool, err error) {
	if len(msg) == 1 {
		switch msg[0] {
		case ctrlOff, ctrlReset:
			i.card.Reset()
			return nil, false, nil
		case ctrlOn:
			i.card.PowerOn()
			return nil, false, nil
		case ctrlATR:
			return i.card.ATR(), true, nil
		default:
			return nil, false, fmt.Errorf("%w: unknown control byte %02X", ErrProtocol, msg[0])
		}
	}
	if len(msg) == 0 {
		return nil, false, fmt.Errorf("%w: empty message", ErrProtocol)
	}
	if i.pad != nil && msg[0] == readerCLA {
		return i.keypadEntry(msg)
	}
	resp = i.card.Process(msg)
	if resp == nil {
		return nil, false, ErrPowerLost
	}
	return resp, true, nil
}

// send writes one framed message in a single write.
func (i *Inserted) send(payload []byte) error {
	if len(payload) > 0xFFFF {
		return fmt.Errorf("%w: reply of %d bytes does not fit the 2-byte length", ErrProtocol, len(payload))
	}
	buf := make([]byte, 2+len(payload))
	binary.BigEndian.PutUint16(buf, uint16(len(payload)))
	copy(buf[2:], payload)
	_, err := i.conn.Write(buf)
	clear(buf)
	return err
}

// quickAck sets TCP_QUICKACK, which Linux clears after each ACK: without it
// a delayed ACK costs ~40 ms per APDU.
func (i *Inserted) quickAck() error {
	raw, err := i.conn.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
	}); err != nil {
		return err
	}
	if serr != nil {
		return fmt.Errorf("set TCP_QUICKACK: %w", serr)
	}
	return nil
}
