package main

import (
	"sort"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies/health"
)

// The dashboard's read models: key sets with their quorum margin and the
// card registry, from the inventory the engine folds.

func (c *console) KeySets() []web.KeySetInfo {
	inv := c.a.views.Inventory
	out := []web.KeySetInfo{}
	for _, ks := range inv.KeySets() {
		u := health.UsableShares(inv, ks)
		out = append(out, web.KeySetInfo{ID: ks.ID, Status: ks.Status, Threshold: ks.Threshold, Shares: ks.Shares, KCV: ks.KCV,
			Usable: u, Margin: u - ks.Threshold, Ceremony: ks.Ceremony})
	}
	return out
}

func (c *console) Cards() []web.CardInfo {
	out := []web.CardInfo{}
	for _, cr := range c.a.views.Inventory.Cards() {
		ci := web.CardInfo{Serial: cr.Serial, KeySetID: cr.KeySetID, ShareIndex: cr.ShareIndex, Custodian: cr.Custodian, Label: cr.Label,
			Blocked: cr.Blocked["PW3"], Void: cr.Void, Uncertain: cr.Uncertain}
		for _, def := range cr.DefaultPIN {
			ci.DefaultPIN = ci.DefaultPIN || def
		}
		if !cr.LastSeen.IsZero() {
			ci.LastSeen = cr.LastSeen.UTC().Format(time.RFC3339)
		}
		out = append(out, ci)
	}
	return out
}

// severityRank orders findings: critical, then warning, then the rest.
func severityRank(s string) int {
	switch s {
	case health.Critical:
		return 0
	case health.Warning:
		return 1
	}
	return 2
}

func sortFindings(fs []web.Finding) {
	sort.SliceStable(fs, func(i, j int) bool { return severityRank(fs[i].Severity) < severityRank(fs[j].Severity) })
}
