package events

// Payloads of the HSM backup and restore ceremonies. Wrapped key material
// stays in the backup file; events name keys (label, id, type) only.

// BackupStarted opens an hsm-backup ceremony.
type BackupStarted struct {
	Operator string `json:"operator"`
	HSM      string `json:"hsm"`
	File     string `json:"file"`
}

// KeyWrapped: one key was wrapped under the Backup Key into the file.
type KeyWrapped struct {
	Label   string `json:"label"`
	ID      string `json:"id"`
	Class   string `json:"class"`
	KeyType string `json:"key_type"`
}

// KeySkipped: a key that cannot leave the HSM (not extractable).
type KeySkipped struct {
	Label  string `json:"label"`
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// BackupWritten closes an hsm-backup: the file, its SHA-256, the count and
// the KCV of the Backup Key the keys are wrapped under.
type BackupWritten struct {
	File         string `json:"file"`
	SHA256       string `json:"sha256"`
	Keys         int    `json:"keys"`
	BackupKeyKCV string `json:"backup_key_kcv"`
}

// RestoreStarted opens an hsm-restore ceremony.
type RestoreStarted struct {
	Operator     string `json:"operator"`
	HSM          string `json:"hsm"`
	File         string `json:"file"`
	SHA256       string `json:"sha256"`
	BackupKeyKCV string `json:"backup_key_kcv"`
}

// KeyRestoreRequested: the engine is about to unwrap a key into the HSM.
type KeyRestoreRequested struct {
	Label string `json:"label"`
	ID    string `json:"id"`
}

// KeyRestored: the key is on the token.
type KeyRestored struct {
	Label   string `json:"label"`
	ID      string `json:"id"`
	Class   string `json:"class"`
	KeyType string `json:"key_type"`
}

// KeyRestoreFailed: the key could not be unwrapped; nothing was created.
type KeyRestoreFailed struct {
	Label string `json:"label"`
	ID    string `json:"id"`
	Error string `json:"error"`
}

// RestoreCompleted closes an hsm-restore.
type RestoreCompleted struct {
	Restored int `json:"restored"`
	Failed   int `json:"failed"`
}

func (BackupStarted) EventType() string       { return "hsm.backup_started" }
func (KeyWrapped) EventType() string          { return "hsm.key_wrapped" }
func (KeySkipped) EventType() string          { return "hsm.key_skipped" }
func (BackupWritten) EventType() string       { return "hsm.backup_written" }
func (RestoreStarted) EventType() string      { return "hsm.restore_started" }
func (KeyRestoreRequested) EventType() string { return "hsm.key_restore_requested" }
func (KeyRestored) EventType() string         { return "hsm.key_restored" }
func (KeyRestoreFailed) EventType() string    { return "hsm.key_restore_failed" }
func (RestoreCompleted) EventType() string    { return "hsm.restore_completed" }
