package events

// HasPlan reports whether typ decodes and encodes through a plan.
func HasPlan(r *Registry, typ string) bool { return r.types[typ].plan != nil }
