package events

import "encoding/json"

// Payloads of the Backup Key ceremonies (generate and load). None carries
// key or share bytes: only key set ids, share indexes, KCVs (hex, 3 bytes)
// and share commitments (hex SHA-256, see ceremonies/backupkey).

// GenerateStarted opens a backup-key generate ceremony.
type GenerateStarted struct {
	Operator  string `json:"operator"`
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	Reader    string `json:"reader"`
	HSM       string `json:"hsm"`
}

// LoadStarted opens a backup-key load ceremony. KeySetID may be empty: the
// first card read names the set.
type LoadStarted struct {
	Operator string `json:"operator"`
	KeySetID string `json:"key_set_id"`
	Reader   string `json:"reader"`
	HSM      string `json:"hsm"`
}

// WriteConfirmed: OK pressed on "Write New Key", by By (the console's
// account that pressed it, or the operator at the station; version 2:
// v1 had no by and is upcast with "").
type WriteConfirmed struct {
	By string `json:"by"`
}

// ReadConfirmed: OK pressed on "Read New Key" (or "Read Key"), by By
// (version 2, as WriteConfirmed).
type ReadConfirmed struct {
	By string `json:"by"`
}

// WriteConfirmedType declares backupkey.write_confirmed at version 2.
func WriteConfirmedType() PayloadType { return Declare[WriteConfirmed]().Upcast(1, UpcastByUnknown) }

// ReadConfirmedType declares backupkey.read_confirmed at version 2.
func ReadConfirmedType() PayloadType { return Declare[ReadConfirmed]().Upcast(1, UpcastByUnknown) }

// ShareCommitment binds a share index to the hash of its share.
type ShareCommitment struct {
	Index      int    `json:"index"`
	Commitment string `json:"commitment"`
}

// KeyGenerated: a new Backup Key exists in memory, split into Shares shares
// of which Threshold rebuild it. The key itself is never recorded.
type KeyGenerated struct {
	KeySetID    string            `json:"key_set_id"`
	Threshold   int               `json:"threshold"`
	Shares      int               `json:"shares"`
	KCV         string            `json:"kcv"`
	Commitments []ShareCommitment `json:"commitments"`
}

// OverwriteConfirmed: the operator confirmed writing over a card that
// holds a share of another key set: a live set of this store (Live), or a
// set this store never made (Foreign: another installation's, or one made
// elsewhere). What the card held is recorded: the set, the share index
// and the KCV its record carries, and who confirmed it (version 3; v1 had
// no previous_kcv and no foreign, v2 no by).
type OverwriteConfirmed struct {
	Serial           string `json:"serial"`
	PreviousKeySetID string `json:"previous_key_set_id"`
	PreviousIndex    int    `json:"previous_index"`
	PreviousKCV      string `json:"previous_kcv"`
	Live             bool   `json:"live"`
	Foreign          bool   `json:"foreign"`
	By               string `json:"by"`
}

// OverwriteConfirmedType declares backupkey.overwrite_confirmed at version
// 3 with its upcasters from v1 and v2; every kind that records it
// declares it so.
func OverwriteConfirmedType() PayloadType {
	return Declare[OverwriteConfirmed]().Upcast(1, upcastOverwriteConfirmedV1).Upcast(2, UpcastByUnknown)
}

// upcastOverwriteConfirmedV1: v1 asked only for live sets and did not
// record the previous KCV.
func upcastOverwriteConfirmedV1(old json.RawMessage) (json.RawMessage, error) {
	raw, err := addField(old, "previous_kcv", `""`)
	if err != nil {
		return nil, err
	}
	return addField(raw, "foreign", "false")
}

// ShareWriteRequested: the engine is about to write share Index to the card.
// Until ShareWritten or ShareWriteFailed follows, the outcome is uncertain.
type ShareWriteRequested struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
}

// ShareWritten: the share was written and read back identical.
type ShareWritten struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
}

// ShareWriteFailed: the write did not happen or could not be verified.
type ShareWriteFailed struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
	Error    string `json:"error"`
}

// ShareAccepted: a share read from a card passed every check (key set,
// record format, commitment, not a duplicate index) and is held in memory.
type ShareAccepted struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
	Have     int    `json:"have"`
	Need     int    `json:"need"`
}

// SharesDiscarded: the shares held in memory were dropped (restart, KCV
// mismatch); they must be read again.
type SharesDiscarded struct {
	Reason string `json:"reason"`
}

// KeyReconstructed: Threshold shares rebuilt a key whose KCV matches the set.
type KeyReconstructed struct {
	KeySetID string `json:"key_set_id"`
	KCV      string `json:"kcv"`
	Indexes  []int  `json:"indexes"`
}

// KeyMismatch: the rebuilt key's KCV differs from the set's; nothing loaded.
type KeyMismatch struct {
	KeySetID    string `json:"key_set_id"`
	ExpectedKCV string `json:"expected_kcv"`
	GotKCV      string `json:"got_kcv"`
	Indexes     []int  `json:"indexes"`
}

// KeySetVoided: generate stopped with fewer than Threshold shares written;
// the key is gone and the cards in Written hold a void set that the next
// generate may overwrite without confirmation.
type KeySetVoided struct {
	KeySetID string   `json:"key_set_id"`
	Written  []string `json:"written"`
	Reason   string   `json:"reason"`
}

// HSMLoadRequested: the engine is about to import the key into the HSM.
type HSMLoadRequested struct {
	HSM      string `json:"hsm"`
	KeySetID string `json:"key_set_id"`
	KCV      string `json:"kcv"`
	Label    string `json:"label"`
}

// HSMKeyLoaded: the HSM holds the key and reported the expected KCV.
type HSMKeyLoaded struct {
	HSM            string `json:"hsm"`
	KeySetID       string `json:"key_set_id"`
	KCV            string `json:"kcv"`
	Label          string `json:"label"`
	AlreadyPresent bool   `json:"already_present"`
}

// HSMLoadFailed: the HSM refused or reported a different KCV.
type HSMLoadFailed struct {
	HSM   string `json:"hsm"`
	Error string `json:"error"`
}

func (GenerateStarted) EventType() string     { return "backupkey.generate_started" }
func (LoadStarted) EventType() string         { return "backupkey.load_started" }
func (WriteConfirmed) EventType() string      { return "backupkey.write_confirmed" }
func (ReadConfirmed) EventType() string       { return "backupkey.read_confirmed" }
func (KeyGenerated) EventType() string        { return "backupkey.key_generated" }
func (OverwriteConfirmed) EventType() string  { return "backupkey.overwrite_confirmed" }
func (ShareWriteRequested) EventType() string { return "backupkey.share_write_requested" }
func (ShareWritten) EventType() string        { return "backupkey.share_written" }
func (ShareWriteFailed) EventType() string    { return "backupkey.share_write_failed" }
func (ShareAccepted) EventType() string       { return "backupkey.share_accepted" }
func (SharesDiscarded) EventType() string     { return "backupkey.shares_discarded" }
func (KeyReconstructed) EventType() string    { return "backupkey.key_reconstructed" }
func (KeyMismatch) EventType() string         { return "backupkey.key_mismatch" }
func (KeySetVoided) EventType() string        { return "backupkey.key_set_voided" }
func (HSMLoadRequested) EventType() string    { return "hsm.load_requested" }
func (HSMKeyLoaded) EventType() string        { return "hsm.key_loaded" }
func (HSMLoadFailed) EventType() string       { return "hsm.load_failed" }
