package web

import "net/http"

// The dashboard's read models (issue: key sets with their quorum margin,
// the card registry, health findings critical first).

// KeySetInfo is one key set with its quorum margin.
type KeySetInfo struct {
	ID        string `json:"id"`
	Status    string `json:"status"` // pending, live, void
	Threshold int    `json:"threshold"`
	Shares    int    `json:"shares"`
	KCV       string `json:"kcv"`
	// Usable is the distinct shares on cards whose backup PIN is not
	// blocked; Margin is Usable less Threshold (0: no spare; below 0: the
	// key cannot be rebuilt from cards).
	Usable   int    `json:"usable"`
	Margin   int    `json:"margin"`
	Ceremony string `json:"ceremony"`
}

// CardInfo is one card of the registry: what it holds and its state,
// never a PIN.
type CardInfo struct {
	Serial     string `json:"serial"`
	KeySetID   string `json:"key_set_id,omitempty"`
	ShareIndex int    `json:"share_index,omitempty"`
	Custodian  string `json:"custodian,omitempty"`
	Label      string `json:"label,omitempty"`
	Blocked    bool   `json:"blocked"`     // its backup PIN has no tries left
	DefaultPIN bool   `json:"default_pin"` // a PIN still at the factory default
	Void       bool   `json:"void"`
	Uncertain  bool   `json:"uncertain"`
	LastSeen   string `json:"last_seen"`
}

func (s *Server) apiKeySets(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.KeySets())
	return nil
}

func (s *Server) apiCards(w http.ResponseWriter, _ *http.Request, _ Actor) *apiError {
	writeJSON(w, http.StatusOK, s.cfg.Backend.Cards())
	return nil
}
