package events

import (
	"encoding/json"
	"fmt"
)

// Card observations, shared by every ceremony that reads cards.

// CardPresented: a card was found in a reader. Slot is the manual's "n. card"
// ordinal. Schema v2 added ReaderClass ("host-pinpad", "class3-pinpad",
// "unknown"): v1 events are upcast with "unknown".
type CardPresented struct {
	Reader      string `json:"reader"`
	ReaderClass string `json:"reader_class"`
	Serial      string `json:"serial"`
	Slot        int    `json:"slot"`
}

// CardRefused: the card cannot be used for this step. Code is stable for
// scripts (see the ceremonies package), Message is for the operator.
type CardRefused struct {
	Serial  string `json:"serial"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// CardRemoved: the card left the reader.
type CardRemoved struct {
	Reader string `json:"reader"`
	Serial string `json:"serial"`
}

// PINRetriesRead: the retry counter read before a PIN entry (no try spent).
type PINRetriesRead struct {
	Serial    string `json:"serial"`
	PIN       string `json:"pin"` // which PIN: "PW1" or "PW3", never its value
	TriesLeft int    `json:"tries_left"`
	LastTry   bool   `json:"last_try"`
}

// PINVerified: the card accepted the PIN. DefaultPIN is true when the PIN
// is the factory default, so the card registry can flag it (known only
// when the PIN passed through the host). Entry says where the PIN was
// typed: "host" (the PIN pad port) or "reader" (a class-3 reader's keypad,
// PC/SC part 10; the PIN never reached the host). Schema v2 added Entry:
// v1 events are upcast with "host".
type PINVerified struct {
	Serial     string `json:"serial"`
	PIN        string `json:"pin"`
	DefaultPIN bool   `json:"default_pin"`
	Entry      string `json:"entry"`
	// By is who entered the PIN: the console's account that sent it, or
	// the operator at the station (schema v3; v2 upcast with "").
	By string `json:"by"`
}

// PINRejected: a wrong PIN; TriesLeft as the card reported it. Entry as in
// PINVerified (schema v2; v1 upcast with "host"); By as in PINVerified
// (schema v3; v2 upcast with "").
type PINRejected struct {
	Serial    string `json:"serial"`
	PIN       string `json:"pin"`
	TriesLeft int    `json:"tries_left"`
	Entry     string `json:"entry"`
	By        string `json:"by"`
}

// CardBlocked: the PIN has no tries left; the card is unavailable.
type CardBlocked struct {
	Serial string `json:"serial"`
	PIN    string `json:"pin"`
}

// SerialConflict: a card presented with Serial held something other than
// what this store's card of that serial holds (another installation's card
// with the same serial, or a copied image): two cards claim the serial.
// The presented card is refused; the registry keeps the registered card.
type SerialConflict struct {
	Serial             string `json:"serial"`
	RegisteredKeySetID string `json:"registered_key_set_id"` // what this store's card holds
	RegisteredIndex    int    `json:"registered_index"`
	PresentedKeySetID  string `json:"presented_key_set_id"` // what the presented card held
	PresentedIndex     int    `json:"presented_index"`
}

func (SerialConflict) EventType() string { return "card.serial_conflict" }

// What a ReaderEvent says happened.
const (
	CardPulled  = "card-pulled"  // the card left the reader during a step
	ReaderLost  = "reader-lost"  // the reader went away
	ReaderBack  = "reader-back"  // the reader is there again
	ServiceLost = "service-lost" // the PC/SC service (pcscd) went away
	ServiceBack = "service-back" // the PC/SC service is there again
)

// ReaderEvent: during a card step the card was pulled, or the reader or
// the PC/SC service went away or came back (What, one of the constants
// above). Detail is the port's message (no APDU, no secret).
type ReaderEvent struct {
	What   string `json:"what"`
	Reader string `json:"reader"`
	Detail string `json:"detail,omitempty"`
}

func (ReaderEvent) EventType() string { return "card.reader_event" }

func (CardPresented) EventType() string  { return "card.presented" }
func (CardRefused) EventType() string    { return "card.refused" }
func (CardRemoved) EventType() string    { return "card.removed" }
func (PINRetriesRead) EventType() string { return "card.pin_retries_read" }
func (PINVerified) EventType() string    { return "card.pin_verified" }
func (PINRejected) EventType() string    { return "card.pin_rejected" }
func (CardBlocked) EventType() string    { return "card.blocked" }

// UpcastEntryV1 adds entry "host": before v2 every PIN came through the
// host's PIN pad port. The PIN events that gained Entry use it as their
// upcaster from version 1.
func UpcastEntryV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "entry", `"host"`)
}

// upcastCardPresentedV1 adds reader_class, unknown to v1 writers.
func upcastCardPresentedV1(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "reader_class", `"unknown"`)
}

// UpcastByUnknown adds by "" to a version that did not record who acted.
func UpcastByUnknown(old json.RawMessage) (json.RawMessage, error) {
	return addField(old, "by", `""`)
}

// addField sets key to value in a JSON object unless it is there.
func addField(old json.RawMessage, key, value string) (json.RawMessage, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(old, &m); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if m == nil { // JSON null: assigning to the nil map would panic
		return nil, fmt.Errorf("%w: payload is null, want an object", ErrMalformed)
	}
	if _, ok := m[key]; !ok {
		m[key] = json.RawMessage(value)
	}
	return json.Marshal(m)
}
