package main

import (
	"errors"
	"fmt"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/memhsm"
	"github.com/ceremony-hsm/ceremony/adapters/opgpcard"
	"github.com/ceremony-hsm/ceremony/adapters/pcsc"
	"github.com/ceremony-hsm/ceremony/adapters/rehearsal"
	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/events"
)

// consoleStation is what the console's ceremonies run on
// (ARCHITECTURE.md, "Console"): the rehearsal station (an emulated
// reader per ceremony, the cards of --console-cards-dir inserted from
// the page, an in-memory HSM), or the station's devices given as to the
// other commands (--reader and the --hsm flags, or --config): a PC/SC
// reader, through pcscd, and a PKCS#11 HSM. The real reader serves one
// ceremony at a time.
type consoleStation struct {
	reader   string         // the PC/SC reader; "" on the rehearsal station
	hsm      ceremonies.HSM // the PKCS#11 HSM; nil on the rehearsal station
	cardsDir string         // the rehearsal cards' images

	mu   sync.Mutex
	busy string // the ceremony whose run holds the real reader
}

// openConsoleStation is the rehearsal station without a reader, else
// the reader and the service's HSM (serveHSM). A real reader without a
// PKCS#11 HSM is refused: a ceremony on real cards loads its key into a
// real HSM.
func openConsoleStation(reader string, hsm ceremonies.HSM, cardsDir string) (*consoleStation, error) {
	if reader != "" && hsm == nil {
		return nil, usagef("--reader %q with --http: the console's ceremonies on a PC/SC reader load into a PKCS#11 HSM: give --hsm pkcs11 with --pkcs11-token and --pkcs11-pin-file or --pkcs11-pin-env (or leave out --reader for the rehearsal station)", reader)
	}
	if reader == "" {
		hsm = nil // the rehearsal station's runs have in-memory HSMs
	}
	return &consoleStation{reader: reader, hsm: hsm, cardsDir: cardsDir}, nil
}

// rehearsal reports whether this is the emulated rehearsal station.
func (s *consoleStation) rehearsal() bool { return s.reader == "" }

// readerName is the reader its ceremonies record (ceremony.station).
func (s *consoleStation) readerName() string {
	if s.rehearsal() {
		return consoleReader
	}
	return s.reader
}

// info is what the pages say about the station.
func (s *consoleStation) info() web.StationInfo {
	if s.rehearsal() {
		return web.StationInfo{Rehearsal: true, Reader: consoleReader, HSM: consoleHSM}
	}
	d := (&stationFlags{reader: s.reader}).describeStation(&ceremonies.Station{HSM: s.hsm})
	return web.StationInfo{Reader: s.reader, HSM: d.HSM}
}

// runStation is one run's share of the station.
type runStation struct {
	port  ceremonies.CardReader
	hsm   ceremonies.HSM
	emu   *cardemu.Reader          // the emulated reader (rehearsal only)
	watch *ceremonies.ReaderWatch  // the PC/SC reader's losses (real only)
	say   func(string)             // set by launch: the run's PIN pad
	free  func()                   // gives the reader back
	desc  *events.StationDescribed // what ceremony.station records
}

// take gives ceremony id a share of the station: a fresh emulated reader
// and in-memory HSM, or the PC/SC reader (refused while another run
// holds it) and the HSM.
func (s *consoleStation) take(id string) (*runStation, error) {
	if s.rehearsal() {
		reader, port := rehearsal.NewReader(consoleReader)
		hsm := memhsm.New(consoleHSM)
		rs := &runStation{port: port, hsm: hsm, emu: reader, free: func() {}}
		rs.desc = (&stationFlags{cardsDir: s.cardsDir}).describeStation(&ceremonies.Station{Reader: port, HSM: hsm})
		return rs, nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.busy != "" {
		return nil, fmt.Errorf("the reader %s runs ceremony %s: start this one when it has ended, or abort it: %w", s.reader, s.busy, web.ErrConflict)
	}
	s.busy = id
	slot := pcsc.NewSlot(s.reader)
	rs := &runStation{hsm: s.hsm, watch: &ceremonies.ReaderWatch{}, say: func(string) {}}
	slot.Waiting = func(err error) {
		// Recorded as card.reader_event by the card steps.
		if err != nil {
			what := events.ReaderLost
			if errors.Is(err, pcsc.ErrNoService) {
				what = events.ServiceLost
			}
			rs.watch.Away(what, s.reader, err.Error())
			rs.say(fmt.Sprintf("The reader %s is away (%v): waiting for it until the step's deadline.", s.reader, err))
			return
		}
		rs.watch.Back(s.reader)
		rs.say("The reader " + s.reader + " is back.")
	}
	rs.port = opgpcard.NewReader(slot, "host-pinpad")
	rs.free = func() {
		slot.Close()
		s.mu.Lock()
		if s.busy == id {
			s.busy = ""
		}
		s.mu.Unlock()
	}
	rs.desc = (&stationFlags{reader: s.reader}).describeStation(&ceremonies.Station{Reader: rs.port, HSM: s.hsm})
	return rs, nil
}
