package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/events"
)

// Dual control in the console (ARCHITECTURE.md, "Console"): 'serve
// --dual-control KINDS' (or the station config's dual_control) names the
// kinds whose console start records ceremony.approval_required; the run
// then waits at its approval desk (web.Approvals) before its first card
// step until a second operator approves from their own session.

// dualControlKinds checks the kind names of --dual-control: each a kind
// this build starts; an unknown name is refused with the list.
func dualControlKinds(names []string) (map[string]bool, error) {
	var startable []string
	known := map[string]bool{}
	for _, k := range kinds.List() {
		if k.Start != nil {
			startable = append(startable, k.Name())
			known[k.Name()] = true
		}
	}
	sort.Strings(startable)
	out := map[string]bool{}
	for _, n := range names {
		n = strings.TrimSpace(n)
		if n == "" {
			continue
		}
		if !known[n] {
			return nil, usagef("--dual-control %s: no kind of that name can be started: give kinds among %s", n, strings.Join(startable, ", "))
		}
		out[n] = true
	}
	return out, nil
}

// dualControlNames returns the checked kind names of --dual-control,
// sorted, for serve.json.
func dualControlNames(names []string) ([]string, error) {
	m, err := dualControlKinds(names)
	if err != nil {
		return nil, err
	}
	var out []string
	for n := range m {
		out = append(out, n)
	}
	sort.Strings(out)
	return out, nil
}

// approvalRequired is the event a console start of k by who records
// after its first when the station puts k under dual control.
func (c *console) approvalRequired(k ceremonies.Kind, who web.Actor) []events.Payload {
	if !c.dualControl[k.Name()] {
		return nil
	}
	return []events.Payload{&events.ApprovalRequired{Starter: who.Name}}
}

// Approve hands who's approval to the run of ceremony id that waits for
// it. Refused: a ceremony not under dual control, one approved already,
// its starter (409), one whose run does not wait for the approval here.
func (c *console) Approve(ctx context.Context, who web.Actor, id string) error {
	inst, err := c.instance(id)
	if err != nil {
		return err
	}
	required, starter, approved := ceremonies.ApprovalState(inst)
	switch {
	case !required:
		return fmt.Errorf("ceremony %s is not under dual control: it needs no approval: %w", id, web.ErrConflict)
	case approved != nil:
		return fmt.Errorf("ceremony %s was approved already, by %s: %w", id, approved.By, web.ErrConflict)
	case inst.Ended():
		return fmt.Errorf("ceremony %s has ended (%s): nothing to approve: %w", id, inst.Phase(), web.ErrConflict)
	}
	if err := ceremonies.CheckApprover(starter, who.Name, who.Role); err != nil {
		return fmt.Errorf("%v: another operator approves from their own session: %w", err, web.ErrConflict)
	}
	c.mu.Lock()
	r := c.runs[id]
	c.mu.Unlock()
	if r != nil && r.approvals != nil {
		taken, err := r.approvals.Approve(who)
		if err != nil {
			return err
		}
		if taken {
			c.log.Printf("console: %s approved %s", who.Name, id)
			return nil
		}
	}
	return fmt.Errorf("ceremony %s does not wait for an approval now (phase %s): when its run waits for a second operator's approval, approve it (resume it on this console if no process runs it): %w", id, inst.Phase(), web.ErrConflict)
}
