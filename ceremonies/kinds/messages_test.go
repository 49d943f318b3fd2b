package kinds_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// Issue 13, defect 7: a blocked card was told to change its default PIN,
// and a blank blocked card to be replaced with a copy of its share.
func TestDefect7BlockedCardMessages(t *testing.T) {
	v := kinds.NewViews()
	var seq uint64
	feed(v, "gen", &seq, &events.KeyGenerated{KeySetID: "ks1", Threshold: 2, Shares: 3, KCV: "AAAAAA"},
		&events.PINVerified{Serial: "c1", PIN: "PW3", DefaultPIN: true},
		&events.ShareWritten{Serial: "c1", KeySetID: "ks1", Index: 1},
		&events.CardBlocked{Serial: "c1", PIN: "PW3"},
		&events.PINVerified{Serial: "blank", PIN: "PW3", DefaultPIN: true},
		&events.CardRemoved{Serial: "blank"},
		&events.CardBlocked{Serial: "blank", PIN: "PW3"},
	)
	recovery := map[string]string{}
	for _, f := range v.Health.Findings(time.Unix(1000, 0), nil, v.Inventory, nil) {
		if strings.Contains(f.What, "default PIN") {
			t.Errorf("a blocked card is told about its default PIN: %+v", f)
		}
		if strings.Contains(f.What, "blocked") {
			recovery[f.Subject] = f.Recovery
		}
	}
	if got, want := recovery["card c1"], "count it out of key set ks1's quorum; copy share 1 from another card that holds it to a spare card (ceremony copy)"; got != want {
		t.Errorf("blocked card holding a share: recovery %q, want %q", got, want)
	}
	if got, want := recovery["card blank"], "it holds no share: reset it (factory state) before using it again, or set it aside"; got != want {
		t.Errorf("blank blocked card: recovery %q, want %q", got, want)
	}
}

// Issue 13, defect 7: "1 tries left"; a dead pcscd reported as "card
// removed".
func TestDefect7TriesAndLossMessages(t *testing.T) {
	for n, want := range map[int]string{0: "0 tries left", 1: "1 try left", 2: "2 tries left"} {
		if got := ceremonies.TriesLeft(n); got != want {
			t.Errorf("TriesLeft(%d) = %q, want %q", n, got, want)
		}
	}
	if got := (&ceremonies.WrongPINError{TriesLeft: 1}).Error(); got != "wrong PIN, 1 try left" {
		t.Errorf("WrongPINError = %q", got)
	}
	err := fmt.Errorf("card S: verify PW3: %w", ceremonies.ErrServiceGone)
	if !errors.Is(err, ceremonies.ErrCardRemoved) || strings.Contains(err.Error(), "card removed") ||
		err.Error() != "card S: verify PW3: the smart card service (pcscd) went away" {
		t.Errorf("pcscd gone: %q (is card removed: %v)", err, errors.Is(err, ceremonies.ErrCardRemoved))
	}
}
