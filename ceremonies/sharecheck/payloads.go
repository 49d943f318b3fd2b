package sharecheck

// The share check's own payload types, declared by the kind (Kind.Payloads;
// ARCHITECTURE.md, "Events"). None carries a share, a key or a PIN: only
// serials, key set ids, share indexes, retry counters and flags.

// Started opens a share check. KeySetID may be empty: the first card
// verified names the set, and every later card must hold a share of it.
type Started struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
	KeySetID string `json:"key_set_id"`
}

// PolicySet records a key set's verification policy: each card holding
// one of its shares must pass a share check at least every EveryDays
// days, or health reports it overdue. EveryDays 0 lifts the policy.
type PolicySet struct {
	KeySetID  string `json:"key_set_id"`
	EveryDays int    `json:"every_days"`
	By        string `json:"by"`
}

// ShareVerified: the custodian's PIN opened the card's backup slot, and
// the share record read from it is well formed and matches the commitment
// recorded when its key set was generated. TriesBefore is the PW3 retry
// counter read before the PIN was typed (no try spent), TriesLeft the one
// read after; DefaultPIN says whether the PIN was the factory default
// (known only when it was typed on the host). Of is the key set's number
// of shares.
type ShareVerified struct {
	Serial      string `json:"serial"`
	KeySetID    string `json:"key_set_id"`
	Index       int    `json:"index"`
	Of          int    `json:"of"`
	Threshold   int    `json:"threshold"`
	TriesBefore int    `json:"tries_before"`
	TriesLeft   int    `json:"tries_left"`
	DefaultPIN  bool   `json:"default_pin"`
	Entry       string `json:"entry"`
}

// Finished ends a share check: the operator said no more cards, or every
// share of the key set was verified.
type Finished struct {
	Verified int    `json:"verified"` // cards verified in this session
	Reason   string `json:"reason"`
}

func (Started) EventType() string       { return "sharecheck.started" }
func (PolicySet) EventType() string     { return "sharecheck.policy_set" }
func (ShareVerified) EventType() string { return "sharecheck.share_verified" }
func (Finished) EventType() string      { return "sharecheck.finished" }
