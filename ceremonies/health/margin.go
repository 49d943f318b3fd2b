package health

import "github.com/ceremony-hsm/ceremony/ceremonies/inventory"

// UsableShares returns how many distinct shares of ks are on cards whose
// backup PIN is not blocked: the shares a load can still combine
// (ARCHITECTURE.md, "Ceremony semantics"). Its quorum margin is this less
// ks.Threshold: 0 is no spare, below 0 the key cannot be rebuilt.
func UsableShares(inv *inventory.Inventory, ks inventory.KeySet) int {
	blocked := map[string]bool{}
	for _, c := range inv.Cards() {
		if c.Blocked["PW3"] {
			blocked[c.Serial] = true
		}
	}
	return usableDistinct(ks, blocked)
}

// usableDistinct counts the share indexes of ks held by at least one card
// not in blocked.
func usableDistinct(ks inventory.KeySet, blocked map[string]bool) int {
	distinct := 0
	for _, holders := range ks.Holders {
		for _, s := range holders {
			if !blocked[s] {
				distinct++
				break
			}
		}
	}
	return distinct
}
