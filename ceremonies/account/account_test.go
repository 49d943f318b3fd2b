package account

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/events"
)

func TestChangesAreCheckedAgainstTheRegistry(t *testing.T) {
	r := NewRegistry()
	apply := func(ev *Changed) { r.Apply(events.Envelope{Time: time.Unix(1, 0)}, ev) }
	ev, err := New(r, Created, "olga", Operator, "station:root")
	if err != nil || !ev.Active || ev.Role != Operator {
		t.Fatalf("create: %+v, %v", ev, err)
	}
	apply(ev)
	for _, c := range []struct{ change, name, role, want string }{
		{Created, "olga", Operator, "exists already"},
		{Created, "bad name!", Operator, "letters, digits"},
		{Created, "ann", "root", "give one of admin, operator, witness, auditor"},
		{Enabled, "olga", "", "active already"},
		{Disabled, "nobody", "", "no account"},
		{RoleChanged, "olga", "king", "give one of"},
	} {
		_, err := New(r, c.change, c.name, c.role, "x")
		var ue *ceremonies.UsageError
		if !errors.As(err, &ue) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s %s: %v, want a usage error saying %q", c.change, c.name, c.role, err, c.want)
		}
	}
	ev, err = New(r, Disabled, "olga", "", "station:root")
	if err != nil || ev.Active || ev.Role != Operator {
		t.Fatalf("disable: %+v, %v", ev, err)
	}
	apply(ev)
	if a, ok := r.Get("olga"); !ok || a.Active {
		t.Fatalf("after disable: %+v", a)
	}
	ev, _ = New(r, RoleChanged, "olga", Auditor, "x")
	apply(ev)
	if a, _ := r.Get("olga"); a.Role != Auditor || a.Active {
		t.Fatalf("a role change kept the status? %+v", a)
	}
}
