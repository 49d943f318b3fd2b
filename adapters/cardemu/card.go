package cardemu

import (
	"bytes"
	"crypto/ecdh"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// Card limits and defaults (OpenPGP card v3.4 §4.4.1 DO C4; the minimum PW3
// length is the appliance's, see the package documentation).
const (
	defaultManufacturer = 0xFFFE // test range FF00..FFFE: random serials
	maxTries            = 3
	minPINLen           = 6
	maxPINLen           = 127
)

var defaultPIN = []byte("123456")

// Options configure a new card image.
type Options struct {
	Manufacturer uint16 // AID manufacturer; 0 means 0xFFFE (a test card)
	Serial       uint32 // AID serial number; give each card its own
	// PW1 (user PIN) and PW3 (admin PIN), 6 to 127 bytes; empty means
	// "123456", as the appliance manual says. This deviates from the OpenPGP
	// default PW3 "12345678".
	PW1, PW3 []byte
}

// Card is one emulated OpenPGP card backed by its image file.
type Card struct {
	path    string
	persist func(image []byte) error // writes the image; replaced in fuzz tests

	mu       sync.Mutex
	st       state   // persisted
	sess     session // volatile: cleared on power-on and reset
	tearKeep int     // >= 0: the next private DO write keeps this many bytes and tears
	reader   *Reader // the reader holding the card, nil if none
}

// state is the card's memory, exactly what the image holds. Byte slices and
// the key in it are never modified in place, only replaced.
type state struct {
	manufacturer       uint16
	serial             uint32
	pw1, pw3           []byte
	triesPW1, triesPW3 int
	dos                map[uint16][]byte // the writable DOs (storedDOs)
	decKey             *ecdh.PrivateKey  // the decryption key (B8), ECDH P-256; nil if none
	terminated         bool              // TERMINATE DF ran, ACTIVATE FILE not yet (terminate.go)
}

func (s state) clone() state {
	n := s
	n.dos = maps.Clone(s.dos)
	if n.dos == nil {
		n.dos = map[uint16][]byte{}
	}
	return n
}

// session is the volatile state of one power-on.
type session struct {
	selected                bool
	pw1Sign, pw1User, admin bool   // verified flags for 81, 82, 83
	pending                 []byte // response data left for GET RESPONSE
	chain                   *chain // command chaining in progress
}

// Create writes a new card image at path and returns the card. It refuses
// to overwrite an existing file. The image is written with mode 0600.
func Create(path string, opts Options) (*Card, error) {
	st, err := opts.initialState()
	if err != nil {
		return nil, fmt.Errorf("cardemu: create %s: %w", path, err)
	}
	img, err := encodeImage(st)
	if err != nil {
		return nil, fmt.Errorf("cardemu: create %s: %w", path, err)
	}
	if err := createExclusive(path, img); err != nil {
		return nil, err
	}
	return newCard(path, st), nil
}

// Open loads the card image at path. The decoding is strict: an image that
// is truncated, corrupt, of another format or version, or holds values a
// card could not hold gives an error naming the file and wrapping ErrBadImage.
func Open(path string) (*Card, error) {
	img, err := readImageFile(path)
	if err != nil {
		return nil, err
	}
	st, err := decodeImage(img)
	if err != nil {
		return nil, fmt.Errorf("cardemu: card image %s: %w", path, err)
	}
	return newCard(path, st), nil
}

func newCard(path string, st state) *Card {
	c := &Card{path: path, st: st, tearKeep: -1}
	c.persist = func(img []byte) error { return writeAtomic(path, img) }
	return c
}

func (o Options) initialState() (state, error) {
	st := state{
		manufacturer: o.Manufacturer,
		serial:       o.Serial,
		pw1:          bytes.Clone(o.PW1),
		pw3:          bytes.Clone(o.PW3),
		triesPW1:     maxTries,
		triesPW3:     maxTries,
		dos:          map[uint16][]byte{},
	}
	if st.manufacturer == 0 {
		st.manufacturer = defaultManufacturer
	}
	if len(st.pw1) == 0 {
		st.pw1 = bytes.Clone(defaultPIN)
	}
	if len(st.pw3) == 0 {
		st.pw3 = bytes.Clone(defaultPIN)
	}
	if err := checkPINLen("PW1", st.pw1); err != nil {
		return state{}, err
	}
	if err := checkPINLen("PW3", st.pw3); err != nil {
		return state{}, err
	}
	for tag := range storedDOs {
		st.dos[tag] = []byte{}
	}
	return st, nil
}

func checkPINLen(name string, pin []byte) error {
	if len(pin) < minPINLen || len(pin) > maxPINLen {
		return fmt.Errorf("%s is %d bytes, must be %d to %d", name, len(pin), minPINLen, maxPINLen)
	}
	return nil
}

// Process runs one command APDU and returns the response APDU (data || SW1
// SW2). It returns nil only when the card lost power during the command
// (TearNextWrite): the caller must then treat the card as removed.
func (c *Card) Process(cmd []byte) []byte {
	resp, _ := c.process(cmd)
	return resp
}

// process is Process that also reports a loss of power.
func (c *Card) process(cmd []byte) (resp []byte, lostPower bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.dispatch(cmd)
	if r.lostPower {
		c.sess = session{}
		return nil, true
	}
	out := make([]byte, 0, len(r.data)+2)
	out = append(out, r.data...)
	return append(out, byte(r.sw>>8), byte(r.sw)), false
}

// PowerOn clears the PIN verification state, the selection and any pending
// response, as a cold reset does.
func (c *Card) PowerOn() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sess = session{}
}

// Reset is a warm reset; for this card it is the same as PowerOn.
func (c *Card) Reset() { c.PowerOn() }

// Serial returns the manufacturer and serial as openpgp.AID.SerialString
// does, e.g. "FFFE00000001".
func (c *Card) Serial() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return fmt.Sprintf("%04X%08X", c.st.manufacturer, c.st.serial)
}

// ATR returns the answer to reset: T=1, SmartPGP's historical bytes (command
// chaining, no extended length), TCK computed.
func (c *Card) ATR() []byte { return bytes.Clone(atr) }

// Path returns the image file of the card.
func (c *Card) Path() string { return c.path }

// TearNextWrite arms a fault for tests: the next PUT DATA of a private DO
// (0101..0104) that passes its access and length checks stores only the
// first keep bytes of the new value (negative keep counts as 0), persists
// that, and the card loses power instead of answering: Process returns nil,
// and a Reader's Transport removes the card from the reader and returns
// ErrCardRemoved. This simulates a card pulled mid-write.
func (c *Card) TearNextWrite(keep int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.tearKeep = max(keep, 0)
}

// commit writes next to the image and, once it is there, makes it the
// card's state. It reports whether that worked; the caller answers 6581
// otherwise.
func (c *Card) commit(next state) bool {
	img, err := encodeImage(next)
	if err == nil {
		err = c.persist(img)
	}
	clear(img)
	if err != nil {
		return false
	}
	old := c.st
	c.st = next
	wipeDropped(old, next)
	return true
}

// wipeDropped wipes the PINs and data objects old held that next holds no
// more (a changed PIN, a rewritten data object, everything at ACTIVATE
// FILE), as a card erases what it no longer stores: the process would
// otherwise keep them in freed memory until it is reused (README,
// "Secrets in memory"). States share the slices they do not change
// (clone), so only slices next does not hold are wiped.
func wipeDropped(old, next state) {
	held := func(b []byte) bool {
		if len(b) == 0 {
			return true
		}
		for _, n := range append([][]byte{next.pw1, next.pw3}, slices.Collect(maps.Values(next.dos))...) {
			if len(n) > 0 && &n[0] == &b[0] {
				return true
			}
		}
		return false
	}
	for _, b := range append([][]byte{old.pw1, old.pw3}, slices.Collect(maps.Values(old.dos))...) {
		if !held(b) {
			clear(b)
		}
	}
}

// attach records that r holds the card; a card is in at most one reader.
func (c *Card) attach(r *Reader) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.reader != nil && c.reader != r {
		return errors.New("the card is already in reader " + c.reader.name)
	}
	c.reader = r
	c.sess = session{} // inserting powers the card on
	return nil
}

// detach records that the card left its reader, which powers it off.
func (c *Card) detach() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reader = nil
	c.sess = session{}
}

// verified reports the verification flag of ref.
func (s *session) verified(ref openpgp.PINRef) bool {
	switch ref {
	case openpgp.PW1Sign:
		return s.pw1Sign
	case openpgp.PW1:
		return s.pw1User
	case openpgp.PW3:
		return s.admin
	}
	return false
}

func (s *session) setVerified(ref openpgp.PINRef, v bool) {
	switch ref {
	case openpgp.PW1Sign:
		s.pw1Sign = v
	case openpgp.PW1:
		s.pw1User = v
	case openpgp.PW3:
		s.admin = v
	}
}
