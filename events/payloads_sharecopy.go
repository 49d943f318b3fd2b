package events

// Payloads of the share-copy ceremony: a one-to-one copy of a Backup Key
// share from one card to another. No share byte is ever recorded.

// CopyStarted opens a share-copy ceremony (the manual's one-to-one copy
// of a Backup Key share to another card).
type CopyStarted struct {
	Operator string `json:"operator"`
	Reader   string `json:"reader"`
}

// CopySourceAccepted: the source card's share was read and checked
// against its set's commitment; it is held in memory only.
type CopySourceAccepted struct {
	Serial   string `json:"serial"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
}

// RedundancyWarning: the copy overwrites the only card holding another
// share of the same set (the manual's 2-of-2 case); Message names what is
// lost. Confirmed by the OverwriteConfirmed that follows.
type RedundancyWarning struct {
	Target       string `json:"target"`
	KeySetID     string `json:"key_set_id"`
	LostIndex    int    `json:"lost_index"`
	DistinctLeft int    `json:"distinct_left"`
	Threshold    int    `json:"threshold"`
	Message      string `json:"message"`
}

// ShareCopied closes a share-copy: the target holds the source's share,
// read back identical.
type ShareCopied struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	KeySetID string `json:"key_set_id"`
	Index    int    `json:"index"`
}

func (CopyStarted) EventType() string        { return "sharecopy.started" }
func (CopySourceAccepted) EventType() string { return "sharecopy.source_accepted" }
func (RedundancyWarning) EventType() string  { return "sharecopy.redundancy_warning" }
func (ShareCopied) EventType() string        { return "sharecopy.copied" }
