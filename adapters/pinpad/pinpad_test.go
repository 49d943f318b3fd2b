package pinpad_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/pinpad"
	"github.com/ceremony-hsm/ceremony/ceremonies"
)

func TestScriptedPlaysKeysAndNeverShowsThePIN(t *testing.T) {
	var disp bytes.Buffer
	var shown []string
	pad := pinpad.NewScripted(&disp,
		pinpad.Entry{Kind: pinpad.OK},
		pinpad.Entry{Kind: pinpad.Cancel},
		pinpad.Entry{Kind: pinpad.Clear, PIN: "12"},
		pinpad.Entry{Kind: pinpad.PIN, PIN: "90817263"},
		pinpad.Entry{Kind: pinpad.Cancel},
	)
	pad.OnShow = func(l1, _ string) { shown = append(shown, l1) }
	ctx := context.Background()
	pad.Show("Write New Key", "press OK/Cancel")
	if ok, err := pad.Confirm(ctx); !ok || err != nil {
		t.Fatalf("OK: %v %v", ok, err)
	}
	if ok, err := pad.Confirm(ctx); ok || err != nil {
		t.Fatalf("Cancel: %v %v", ok, err)
	}
	pin, err := pad.EnterPIN(ctx, "Enter PIN", "3 tries left")
	if err != nil || string(pin) != "90817263" {
		t.Fatalf("PIN after Clear: %q %v", pin, err)
	}
	if _, err := pad.EnterPIN(ctx, "Enter PIN", "2 tries left"); !errors.Is(err, ceremonies.ErrCancelled) {
		t.Fatalf("Cancel at PIN entry: %v", err)
	}
	if _, err := pad.Confirm(ctx); err == nil || !strings.Contains(err.Error(), "script ended") {
		t.Fatalf("past the script: %v", err)
	}
	if strings.Contains(disp.String(), "90817263") {
		t.Fatalf("the display shows the PIN:\n%s", disp.String())
	}
	if !strings.Contains(disp.String(), "********") || !strings.Contains(disp.String(), "(Clear)") {
		t.Fatalf("the display lacks the masked PIN or the Clear:\n%s", disp.String())
	}
	if len(shown) != 3 || shown[0] != "Write New Key" || shown[1] != "Enter PIN" {
		t.Fatalf("OnShow saw %v", shown)
	}
}

func TestScriptedStallWaitsForTheDeadline(t *testing.T) {
	pad := pinpad.NewScripted(nil, pinpad.Entry{Kind: pinpad.Stall})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := pad.Confirm(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("stall: %v", err)
	}
}

func TestScriptedRefusesAMismatchedEntry(t *testing.T) {
	pad := pinpad.NewScripted(nil, pinpad.Entry{Kind: pinpad.PIN, PIN: "1"}, pinpad.Entry{Kind: pinpad.OK})
	if _, err := pad.Confirm(context.Background()); err == nil {
		t.Fatal("a PIN was taken as OK")
	}
	if _, err := pad.EnterPIN(context.Background(), "Enter PIN", ""); err == nil {
		t.Fatal("OK was taken as a PIN")
	}
}

func TestTerminalKeys(t *testing.T) {
	in := strings.NewReader("\nc\nclear\n90817263\nc\ncard2\n")
	var disp bytes.Buffer
	pad := pinpad.NewTerminal(in, &disp)
	ctx := context.Background()
	if ok, err := pad.Confirm(ctx); !ok || err != nil {
		t.Fatalf("Enter: %v %v", ok, err)
	}
	if ok, err := pad.Confirm(ctx); ok || err != nil {
		t.Fatalf("c: %v %v", ok, err)
	}
	pin, err := pad.EnterPIN(ctx, "Enter PIN", "3 tries left")
	if err != nil || string(pin) != "90817263" {
		t.Fatalf("PIN after clear: %q %v", pin, err)
	}
	if _, err := pad.EnterPIN(ctx, "Enter PIN", "2 tries left"); !errors.Is(err, ceremonies.ErrCancelled) {
		t.Fatalf("c at a PIN prompt: %v", err)
	}
	if a, err := pad.Ask(ctx, "which card? "); a != "card2" || err != nil {
		t.Fatalf("Ask: %q %v", a, err)
	}
	if _, err := pad.Confirm(ctx); err == nil {
		t.Fatal("end of input was taken as OK")
	}
}
