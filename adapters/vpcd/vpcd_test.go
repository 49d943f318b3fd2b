package vpcd

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// fakeVpcd plays vpcd's side of the protocol, without pcscd.
type fakeVpcd struct {
	t  *testing.T
	ln net.Listener
}

func newFake(t *testing.T) *fakeVpcd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return &fakeVpcd{t: t, ln: ln}
}

// insert runs Insert against the fake, which accepts and asks for the ATR
// (Insert returns only after vpcd's first message). It returns the session
// and the fake's end of the connection.
func (f *fakeVpcd) insert(ctx context.Context, card *cardemu.Card) (*Inserted, net.Conn) {
	f.t.Helper()
	type result struct {
		in  *Inserted
		err error
	}
	res := make(chan result, 1)
	go func() {
		in, err := Insert(ctx, f.ln.Addr().String(), card)
		res <- result{in, err}
	}()
	c, err := f.ln.Accept()
	if err != nil {
		f.t.Fatal(err)
	}
	f.t.Cleanup(func() { c.Close() })
	if atr := exchange(f.t, c, 0x04); !bytes.Equal(atr, card.ATR()) {
		f.t.Fatalf("first get-ATR answered % X, want % X", atr, card.ATR())
	}
	r := <-res
	if r.err != nil {
		f.t.Fatalf("Insert: %v", r.err)
	}
	f.t.Cleanup(func() { r.in.Remove() })
	return r.in, c
}

func writeFrame(t *testing.T, c net.Conn, msg []byte) {
	t.Helper()
	buf := binary.BigEndian.AppendUint16(nil, uint16(len(msg)))
	if _, err := c.Write(append(buf, msg...)); err != nil {
		t.Fatalf("fake vpcd: write: %v", err)
	}
}

func readFrame(c net.Conn) ([]byte, error) {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	var hdr [2]byte
	if _, err := io.ReadFull(c, hdr[:]); err != nil {
		return nil, err
	}
	msg := make([]byte, binary.BigEndian.Uint16(hdr[:]))
	_, err := io.ReadFull(c, msg)
	return msg, err
}

// exchange sends one message and returns the reply.
func exchange(t *testing.T, c net.Conn, msg ...byte) []byte {
	t.Helper()
	writeFrame(t, c, msg)
	resp, err := readFrame(c)
	if err != nil {
		t.Fatalf("fake vpcd: read the reply: %v", err)
	}
	return resp
}

// apdu sends a hex command APDU and returns the response in hex.
func apdu(t *testing.T, c net.Conn, cmd string) string {
	t.Helper()
	b, err := hex.DecodeString(cmd)
	if err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(exchange(t, c, b...))
}

// wantClosed checks that the card side closed the connection.
func wantClosed(t *testing.T, c net.Conn) {
	t.Helper()
	if msg, err := readFrame(c); !errors.Is(err, io.EOF) {
		t.Fatalf("fake vpcd: want EOF (card pulled), got % X, %v", msg, err)
	}
}

func wantDone(t *testing.T, in *Inserted) {
	t.Helper()
	select {
	case <-in.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session not done within 5 s")
	}
}

func createCard(t *testing.T) *cardemu.Card {
	t.Helper()
	card, err := cardemu.Create(filepath.Join(t.TempDir(), "card.json"), cardemu.Options{Serial: 7, PW3: []byte(testPW3)})
	if err != nil {
		t.Fatal(err)
	}
	return card
}

const (
	selectAPDU = "00a4040006d27600012401"
	getAID     = "00ca004f00"
	getPW      = "00ca00c400"
)

func TestProtocol(t *testing.T) {
	card := createCard(t)
	f := newFake(t)
	in, c := f.insert(t.Context(), card)

	writeFrame(t, c, []byte{0x01}) // power on: no reply
	if got := apdu(t, c, selectAPDU); got != "9000" {
		t.Fatalf("SELECT: %s", got)
	}
	if got, want := apdu(t, c, getAID), "d276000124010304fffe000000070000"+"9000"; got != want {
		t.Fatalf("GET DATA 4F: %s, want %s", got, want)
	}
	writeFrame(t, c, []byte{0x02}) // reset: no reply, clears the selection
	if got := apdu(t, c, getPW); got != "6985" {
		t.Fatalf("GET DATA C4 after reset: %s, want 6985 (not selected)", got)
	}
	apdu(t, c, selectAPDU)
	writeFrame(t, c, []byte{0x00}) // power off: no reply, clears the selection
	writeFrame(t, c, []byte{0x01})
	if got := apdu(t, c, getPW); got != "6985" {
		t.Fatalf("GET DATA C4 after a power cycle: %s, want 6985 (not selected)", got)
	}
	if atr := exchange(t, c, 0x04); !bytes.Equal(atr, card.ATR()) {
		t.Fatalf("get ATR: % X", atr)
	}
	if in.Err() != nil {
		t.Fatalf("Err while running = %v", in.Err())
	}

	c.Close() // vpcd went away
	wantDone(t, in)
	if err := in.Err(); !errors.Is(err, ErrReaderGone) {
		t.Fatalf("Err = %v, want ErrReaderGone", err)
	}
	if err := in.Remove(); err != nil {
		t.Fatalf("Remove after the end: %v", err)
	}
}

func TestInsertPowersOn(t *testing.T) {
	card := createCard(t)
	r := cardemu.NewReader("setup")
	r.Insert(card)
	cl := openpgp.NewClient(r.Transport())
	if err := cl.Select(); err != nil {
		t.Fatal(err)
	}
	if err := cl.Verify(openpgp.PW3, []byte(testPW3)); err != nil {
		t.Fatal(err)
	}
	r.Remove()

	_, c := newFake(t).insert(t.Context(), card)
	apdu(t, c, selectAPDU)
	if got := apdu(t, c, "00ca010400"); got != "6982" {
		t.Fatalf("reading DO 0104 right after Insert: %s, want 6982 (PW3 no longer verified)", got)
	}
}

func TestTornWritePullsTheCard(t *testing.T) {
	card := createCard(t)
	in, c := newFake(t).insert(t.Context(), card)
	apdu(t, c, selectAPDU)
	if got := apdu(t, c, "0020008308"+hex.EncodeToString([]byte(testPW3))); got != "9000" {
		t.Fatalf("VERIFY PW3: %s", got)
	}
	card.TearNextWrite(2)
	writeFrame(t, c, []byte{0x00, 0xDA, 0x01, 0x04, 0x04, 0xAA, 0xBB, 0xCC, 0xDD})
	wantClosed(t, c)
	wantDone(t, in)
	if err := in.Err(); !errors.Is(err, ErrPowerLost) {
		t.Fatalf("Err = %v, want ErrPowerLost", err)
	}
}

func TestContextEndRemovesTheCard(t *testing.T) {
	card := createCard(t)
	ctx, cancel := context.WithCancel(t.Context())
	in, c := newFake(t).insert(ctx, card)
	cancel()
	wantClosed(t, c)
	wantDone(t, in)
	if err := in.Err(); !errors.Is(err, context.Canceled) {
		t.Fatalf("Err = %v, want context.Canceled", err)
	}
}

func TestRemove(t *testing.T) {
	card := createCard(t)
	f := newFake(t)
	in, c := f.insert(t.Context(), card)

	if _, err := Insert(t.Context(), f.ln.Addr().String(), card); err == nil {
		t.Fatal("a second Insert of the same card succeeded")
	}
	if err := in.Remove(); err != nil {
		t.Fatalf("Remove: %v", err)
	}
	wantClosed(t, c)
	wantDone(t, in)
	if err := in.Err(); err != nil {
		t.Fatalf("Err after Remove = %v, want nil", err)
	}
	if err := in.Remove(); err != nil {
		t.Fatalf("second Remove: %v", err)
	}
	// Removed, the card can be inserted again.
	f.insert(t.Context(), card)
}

func TestUnknownControlIsAProtocolError(t *testing.T) {
	in, c := newFake(t).insert(t.Context(), createCard(t))
	writeFrame(t, c, []byte{0x03})
	wantClosed(t, c)
	wantDone(t, in)
	if err := in.Err(); !errors.Is(err, ErrProtocol) {
		t.Fatalf("Err = %v, want ErrProtocol", err)
	}
}

func TestInsertFails(t *testing.T) {
	card := createCard(t)

	// Nobody listening.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	if _, err := Insert(t.Context(), addr, card); err == nil {
		t.Fatal("Insert into a closed port succeeded")
	}

	// Listening but silent: Insert gives up when ctx ends.
	f := newFake(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	if _, err := Insert(ctx, f.ln.Addr().String(), card); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Insert to a silent peer: %v, want DeadlineExceeded", err)
	}

	// The failed attempts left the card free.
	newFake(t).insert(t.Context(), card)
}
