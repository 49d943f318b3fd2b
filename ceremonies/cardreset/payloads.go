package cardreset

// The card reset's own payload types, declared by the kind (Kind.Payloads;
// ARCHITECTURE.md, "Events"). None carries a share, a key or a PIN: only
// serials, key set ids, share indexes, KCVs, counts and the sentence the
// operator confirmed.

// Started opens a card reset. Serial, when given, is the only card the
// ceremony accepts. Mode is ModeFactory or ModeUserPIN.
type Started struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
	Serial   string `json:"serial"`
	Mode     string `json:"mode"`
}

// What a card was found to hold before a factory reset (ContentNamed.Holds).
const (
	HoldsShare        = "share"         // a share of a key set of this store
	HoldsVoidShare    = "void-share"    // a share of a void key set of this store
	HoldsForeignShare = "foreign-share" // a share of a set this store never made
	HoldsNotAShare    = "not-a-share"   // data in the backup slot that is no share record
	HoldsNothing      = "nothing"       // an empty backup slot
)

// Where ContentNamed.From took what the card holds.
const (
	FromCard               = "card"                // read after its backup PIN
	FromRegistryBlocked    = "registry"            // the backup PIN is blocked: what the events last said
	FromRegistryTerminated = "registry-terminated" // the card was found terminated: what the events last said
)

// ContentNamed: what the card holds, named before anything is changed
// (From: FromCard, FromRegistryBlocked, FromRegistryTerminated).
// KeepsUsable is how many distinct usable shares the set keeps without
// this card. Loss is the sentence the operator is asked to confirm.
type ContentNamed struct {
	Serial      string `json:"serial"`
	From        string `json:"from"`
	Holds       string `json:"holds"`
	KeySetID    string `json:"key_set_id"`
	Index       int    `json:"index"`
	KCV         string `json:"kcv"`
	Shares      int    `json:"shares"`
	Threshold   int    `json:"threshold"`
	KeepsUsable int    `json:"keeps_usable"`
	UserSlot    string `json:"user_slot"`
	Loss        string `json:"loss"`
}

// Confirmed: the operator pressed OK after being told Loss.
type Confirmed struct {
	Serial string `json:"serial"`
	Loss   string `json:"loss"`
	By     string `json:"by"`
}

// ResetRequested: TERMINATE DF and ACTIVATE FILE are about to be sent to
// the card (the side effect; CardReset is its outcome).
type ResetRequested struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
}

// CardReset: the card is in its factory state: its share (if any), its
// user key and sealed credential are gone, both PINs are the default.
type CardReset struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
	Lost     string `json:"lost"`
}

// UserPINResetRequested: RESET RETRY COUNTER for PW1 is about to be sent,
// with the admin PIN verified (the side effect; UserPINReset answers it).
type UserPINResetRequested struct {
	Serial string `json:"serial"`
}

// UserPINReset: the user slot's PIN is the new one typed on the host, its
// retry counter full.
type UserPINReset struct {
	Serial string `json:"serial"`
	Entry  string `json:"entry"`
}

func (Started) EventType() string               { return "cardreset.started" }
func (ContentNamed) EventType() string          { return "cardreset.content_named" }
func (Confirmed) EventType() string             { return "cardreset.confirmed" }
func (ResetRequested) EventType() string        { return "cardreset.reset_requested" }
func (CardReset) EventType() string             { return "cardreset.card_reset" }
func (UserPINResetRequested) EventType() string { return "cardreset.user_pin_reset_requested" }
func (UserPINReset) EventType() string          { return "cardreset.user_pin_reset" }
