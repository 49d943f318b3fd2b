package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/events"
)

// vpcdReaderPrefix names the readers of vsmartcard's vpcd driver, behind
// which the card emulator answers ('ceremony card-emulator').
const vpcdReaderPrefix = "Virtual PCD"

// describeStation says what the station is, for the ceremony.station
// event every start command records after the first event: the HSM
// (module, token label and serial, or the software HSM), the reader and
// its class, and whether the cards are emulated.
func (s *stationFlags) describeStation(st *ceremonies.Station) *events.StationDescribed {
	d := &events.StationDescribed{}
	if st.HSM != nil {
		type token interface {
			Module() string
			Token() (label, serial string)
		}
		if t, ok := st.HSM.(token); ok {
			label, serial := t.Token()
			module := t.Module()
			d.HSM = fmt.Sprintf("PKCS#11 module %s, token %q, serial %s", module, label, serial)
			if strings.Contains(strings.ToLower(filepath.Base(module)), "softhsm") {
				d.SoftwareHSM = true
				d.HSM += " (SoftHSM: a software HSM, rehearsal)"
			}
		} else {
			d.SoftwareHSM = true
			d.HSM = "software HSM: rehearsal (" + st.HSM.Name() + ", in memory)"
		}
	}
	if st.Reader != nil {
		d.Readers = append(d.Readers, events.StationReader{Name: st.Reader.Name(), Class: st.Reader.Class()})
		switch {
		case s.reader == "":
			d.EmulatedCards, d.Cards = true, "emulated cards (images in "+s.cardsDir+"), in an emulated reader"
		case strings.HasPrefix(s.reader, vpcdReaderPrefix):
			d.EmulatedCards, d.Cards = true, "emulated cards behind vpcd, through pcscd"
		default:
			d.Cards = "cards in the PC/SC reader " + s.reader
		}
	}
	return d
}
