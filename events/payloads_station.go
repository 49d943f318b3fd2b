package events

// StationDescribed records the station a ceremony runs on, right after
// its first event: the HSM, the readers and whether the cards are
// emulated. A software HSM or emulated cards make the ceremony a
// rehearsal, and its report says so on every page.
type StationDescribed struct {
	HSM           string          `json:"hsm"` // module, token label and serial; or the software HSM; empty: the kind uses none
	SoftwareHSM   bool            `json:"software_hsm"`
	Readers       []StationReader `json:"readers"`
	EmulatedCards bool            `json:"emulated_cards"`
	Cards         string          `json:"cards"` // where the cards are, in words
}

// StationReader is one card reader of the station and its class
// ("host-pinpad": the PIN is typed on the host; "class3-pinpad": on the
// reader's own keypad, PC/SC part 10).
type StationReader struct {
	Name  string `json:"name"`
	Class string `json:"class"`
}

func (StationDescribed) EventType() string { return "ceremony.station" }

// Rehearsal reports whether the station is not real hardware throughout.
func (s *StationDescribed) Rehearsal() bool { return s.SoftwareHSM || s.EmulatedCards }
