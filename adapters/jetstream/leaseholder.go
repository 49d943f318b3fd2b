package jetstream

import (
	"context"
	"encoding/json"
	"fmt"
	"time"
)

// Describe says who holds resource in any process, for a message: "ceremony
// ID, run by pid N on HOST since T"; false when no live lease is on it (or
// the bucket cannot be read).
func (l *Leases) Describe(resource string) (string, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), leaseOpTimeout)
	defer cancel()
	e, err := l.kv.Get(ctx, leaseKey(resource))
	if err != nil {
		return "", false
	}
	var v leaseValue
	if json.Unmarshal(e.Value(), &v) != nil {
		return "", false
	}
	return fmt.Sprintf("ceremony %s, run by %s since %s", v.Ceremony, v.Owner, v.Since.Format(time.RFC3339)), true
}
