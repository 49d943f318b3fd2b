package opgpcard_test

import (
	"context"
	"encoding/binary"
	"errors"
	"path/filepath"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// keypadSlot is a class-3 reader around the real card emulator, for this
// unit test only: it offers FEATURE_VERIFY_PIN_DIRECT and, on that
// control, types `typed` into the APDU template of the PIN_VERIFY
// structure, as the reader's keypad would.
type keypadSlot struct {
	r     *cardemu.Reader
	typed string // "" = nobody types (timeout), "cancel" = Cancel key
}

const verifyIoctl = 0x42330006

func (k *keypadSlot) Name() string                          { return "Keypad reader 00" }
func (k *keypadSlot) Transport() openpgp.Transport          { return k.r.Transport() }
func (k *keypadSlot) WaitRemoved(ctx context.Context) error { return k.r.WaitRemoved(ctx) }
func (k *keypadSlot) WaitPresent(ctx context.Context) error {
	_, err := k.r.Wait(ctx)
	return err
}
func (k *keypadSlot) Gone(err error) bool { return errors.Is(err, cardemu.ErrCardRemoved) }
func (k *keypadSlot) Features() (part10.Features, error) {
	return part10.ParseFeatures([]byte{0x06, 0x04, 0x42, 0x33, 0x00, 0x06})
}

func (k *keypadSlot) Control(ioctl uint32, in []byte) ([]byte, error) {
	if ioctl != verifyIoctl || len(in) < part10.VerifyHeaderLen+4 {
		return nil, errors.New("unexpected control")
	}
	switch k.typed {
	case "":
		return []byte{0x64, 0x00}, nil
	case "cancel":
		return []byte{0x64, 0x01}, nil
	}
	if int(binary.LittleEndian.Uint32(in[15:19])) != len(in)-part10.VerifyHeaderLen {
		return []byte{0x6B, 0x80}, nil
	}
	apdu := append([]byte(nil), in[part10.VerifyHeaderLen:part10.VerifyHeaderLen+4]...)
	apdu = append(apdu, byte(len(k.typed)))
	apdu = append(apdu, k.typed...)
	resp, err := k.r.Transport().Transmit(apdu)
	if err != nil {
		return nil, err
	}
	return resp[len(resp)-2:], nil
}

func TestVerifyPINOnAClass3Reader(t *testing.T) {
	card, err := cardemu.Create(filepath.Join(t.TempDir(), "c.img"), cardemu.Options{Serial: 7, PW1: []byte("11223344"), PW3: []byte("55667788")})
	if err != nil {
		t.Fatal(err)
	}
	slot := &keypadSlot{r: cardemu.NewReader("keypad")}
	if err := slot.r.Insert(card); err != nil {
		t.Fatal(err)
	}
	reader := opgpcard.NewReader(slot, "host-pinpad")
	c, err := reader.WaitCard(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if reader.Class() != "class3-pinpad" {
		t.Fatalf("class %q", reader.Class())
	}
	rp, ok := c.(ceremonies.ReaderPINPad)
	if !ok || !rp.HasReaderPINPad() {
		t.Fatal("the card does not offer PIN entry on the reader")
	}
	cases := []struct {
		typed string
		check func(error) bool
	}{
		{"00000000", func(err error) bool {
			var w *ceremonies.WrongPINError
			return errors.As(err, &w) && w.TriesLeft == 2
		}},
		{"", func(err error) bool { return errors.Is(err, ceremonies.ErrReaderTimeout) }},
		{"cancel", func(err error) bool { return errors.Is(err, ceremonies.ErrCancelled) }},
		{"55667788", func(err error) bool { return err == nil }},
	}
	for _, tc := range cases {
		slot.typed = tc.typed
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); !tc.check(err) {
			t.Errorf("keypad typed %q: %v", tc.typed, err)
		}
	}
	if tries, err := c.PINTries(ceremonies.BackupSlot); err != nil || tries != 3 {
		t.Fatalf("after a right PIN on the reader: %d tries, %v", tries, err)
	}
	// A plain reader (the in-process emulator's) has no PIN pad.
	plainSlot := &plain{slot}
	if opgpcard.NewReader(plainSlot, "host-pinpad").Class() != "host-pinpad" {
		t.Fatal("a reader without features is not host-pinpad")
	}
}

// plain hides the keypad: only the opgpcard.Slot methods.
type plain struct{ k *keypadSlot }

func (p *plain) Name() string                          { return p.k.Name() }
func (p *plain) Transport() openpgp.Transport          { return p.k.Transport() }
func (p *plain) WaitRemoved(ctx context.Context) error { return p.k.WaitRemoved(ctx) }
func (p *plain) WaitPresent(ctx context.Context) error { return p.k.WaitPresent(ctx) }
func (p *plain) Gone(err error) bool                   { return p.k.Gone(err) }
