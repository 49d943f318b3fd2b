package classthree_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/classthree"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc/pcscdtest"
	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/adapters/vpcd"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// One private pcscd per test binary (pcsc-lite reads PCSCLITE_CSOCK_NAME
// once per process), with the class-3 reader, launched by the first test
// that needs it and stopped by TestMain.
var (
	daemonOnce sync.Once
	daemon     *pcscdtest.Daemon
	daemonErr  error
)

func testDaemon(t *testing.T) *pcscdtest.Daemon {
	t.Helper()
	daemonOnce.Do(func() { daemon, daemonErr = pcscdtest.LaunchWith(pcscdtest.Options{ClassThree: true}) })
	if daemonErr != nil {
		t.Fatalf("pcscdtest: %v", daemonErr)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pcscd log:\n%s", daemon.Log())
		}
	})
	return daemon
}

func TestMain(m *testing.M) {
	code := m.Run()
	if daemon != nil {
		if err := daemon.Close(); err != nil && code == 0 {
			os.Stderr.WriteString(err.Error() + "\n")
			code = 1
		}
	}
	os.Exit(code)
}

// The PINs of the test card: 8 digits, not the default.
const (
	pw3    = "55667788"
	newPW3 = "13572468"
)

// TestPINEntryThroughPcscd: VERIFY and CHANGE REFERENCE DATA typed on the
// class-3 reader's keypad (scripted, on the card's side), asked for by the
// host through pcscd's SCardControl, as with a cyberJack e-com.
func TestPINEntryThroughPcscd(t *testing.T) {
	d := testDaemon(t)
	card, err := cardemu.Create(filepath.Join(t.TempDir(), "c.img"), cardemu.Options{Serial: 0x3001, PW1: []byte("11223344"), PW3: []byte(pw3)})
	if err != nil {
		t.Fatal(err)
	}
	pad := pinpad.NewScripted(nil)
	in, err := vpcd.InsertWithKeypad(t.Context(), d.ClassThreeAddr(), card, pad)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Remove()

	slot := pcsc.NewSlot(pcscdtest.ClassThreeReader)
	defer slot.Close()
	reader := opgpcard.NewReader(slot, "host-pinpad")
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second) // liveness bound
	defer cancel()
	c, err := reader.WaitCard(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if c.Serial() != "FFFE00003001" {
		t.Fatalf("card %s in a reader of class %q", c.Serial(), reader.Class())
	}
	if reader.Class() != "class3-pinpad" {
		t.Fatalf("class %q, want class3-pinpad", reader.Class())
	}

	t.Run("features and properties", func(t *testing.T) {
		f, err := slot.Features()
		if err != nil {
			t.Fatal(err)
		}
		for tag, want := range map[part10.Feature]uint32{
			part10.FeatureVerifyPINDirect:  classthree.IOCTLVerify,
			part10.FeatureModifyPINDirect:  classthree.IOCTLModify,
			part10.FeatureIFDPINProperties: classthree.IOCTLProperties,
		} {
			if got, ok := f.Control(tag); !ok || got != want {
				t.Errorf("%v: %08X, %v; want %08X", tag, got, ok, want)
			}
		}
		if f.Len() != 3 {
			t.Errorf("%d features, want 3: %v", f.Len(), f.Tags())
		}
		b, err := slot.Control(classthree.IOCTLProperties, nil)
		if err != nil {
			t.Fatal(err)
		}
		p, err := part10.ParsePINProperties(b)
		if err != nil || p.LcdLayout.Lines() != 2 || p.LcdLayout.Chars() != 16 || p.EntryValidationCondition != part10.ValidateKeyPressed {
			t.Fatalf("PIN properties %+v, %v", p, err)
		}
		// A structure the reader cannot read is refused as the CCID driver
		// does, with SCARD_E_UNSUPPORTED_FEATURE, and nothing reaches the card.
		if _, err := slot.Control(classthree.IOCTLVerify, []byte{0, 0, 0x82}); err == nil {
			t.Fatal("a 3-byte PIN_VERIFY_STRUCTURE was accepted")
		}
		// The keypad's messages cannot be forged with SCardTransmit.
		resp, err := slot.Transport().Transmit([]byte{0xFF, 0x06, 0x00, 0x00})
		if err != nil || len(resp) != 2 || resp[0] != 0x6E || resp[1] != 0x00 {
			t.Fatalf("CLA FF: % X, %v; want 6E 00", resp, err)
		}
	})

	rp := c.(ceremonies.ReaderPINPad)
	rc := c.(ceremonies.ReaderPINChange)
	if !rp.HasReaderPINPad() || !rc.HasReaderPINChange() {
		t.Fatal("the card in the class-3 reader offers no PIN entry on the reader")
	}

	t.Run("verify", func(t *testing.T) {
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: "00000000"})
		var wrong *ceremonies.WrongPINError
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
			t.Fatalf("a wrong PIN on the keypad: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.Cancel})
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); !errors.Is(err, ceremonies.ErrCancelled) {
			t.Fatalf("Cancel on the keypad: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: "12345"})
		var rule *ceremonies.PINRuleError
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); !errors.As(err, &rule) {
			t.Fatalf("5 digits on the keypad: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: pw3})
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); err != nil {
			t.Fatalf("the right PIN on the keypad: %v", err)
		}
		if tries, err := c.PINTries(ceremonies.BackupSlot); err != nil || tries != 3 {
			t.Fatalf("after the right PIN: %d tries, %v", tries, err)
		}
		// Verified on the reader, the PIN opens the card to the host: the
		// share DO can be written.
		if err := c.WriteShare([]byte("record")); err != nil {
			t.Fatalf("write after a VERIFY on the reader: %v", err)
		}
	})

	t.Run("change", func(t *testing.T) {
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: pw3}, pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3}, pinpad.Entry{Kind: pinpad.PIN, PIN: "13572469"})
		var rule *ceremonies.PINRuleError
		if err := rc.ChangePINOnReader(ceremonies.BackupSlot); !errors.As(err, &rule) || rule.Rule != "the two entries of the new PIN differ" {
			t.Fatalf("two different new PINs: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: "87654321"}, pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3}, pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3})
		var wrong *ceremonies.WrongPINError
		if err := rc.ChangePINOnReader(ceremonies.BackupSlot); !errors.As(err, &wrong) || wrong.TriesLeft != 2 {
			t.Fatalf("a wrong current PIN: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: pw3}, pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3}, pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3})
		if err := rc.ChangePINOnReader(ceremonies.BackupSlot); err != nil {
			t.Fatalf("change on the reader: %v", err)
		}
		pad.Push(pinpad.Entry{Kind: pinpad.PIN, PIN: newPW3})
		if err := rp.VerifyPINOnReader(ceremonies.BackupSlot); err != nil {
			t.Fatalf("the new PIN on the keypad: %v", err)
		}
		if err := c.VerifyPIN(ceremonies.BackupSlot, []byte(pw3)); err == nil {
			t.Fatal("the old PIN still works")
		}
	})

	for _, l := range pad.Lines() {
		if l[0] == "" {
			t.Errorf("a keypad prompt without text: %q", l)
		}
	}
}
