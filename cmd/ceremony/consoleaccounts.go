package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ceremony-hsm/ceremony/adapters/passwords"
	"github.com/ceremony-hsm/ceremony/adapters/web"
	"github.com/ceremony-hsm/ceremony/ceremonies/account"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// The console's account administration: the same account.changed event
// 'ceremony account' records, by the logged-in admin (ARCHITECTURE.md,
// "Console").

func (c *console) Accounts() []web.AccountInfo {
	out := []web.AccountInfo{}
	for _, a := range c.a.views.Accounts.List() {
		out = append(out, web.AccountInfo{Name: a.Name, Role: a.Role, Active: a.Active, Changed: a.Changed.UTC().Format(time.RFC3339)})
	}
	return out
}

// ChangeAccount checks the change against the accounts, stores a new
// password's hash, then records the event (as runAccountChange does).
func (c *console) ChangeAccount(ctx context.Context, who web.Actor, change, name, role string, password []byte) error {
	ch, ok := map[string]string{web.ChangeCreate: account.Created, web.ChangeRole: account.RoleChanged, web.ChangeDisable: account.Disabled,
		web.ChangeEnable: account.Enabled, web.ChangePassword: account.PasswordChanged}[change]
	if !ok {
		return &web.UsageError{Msg: fmt.Sprintf("account change %q is not one the console makes", change)}
	}
	ev, err := account.New(c.a.views.Accounts, ch, name, role, who.Name)
	if err != nil {
		return usageForWeb(err)
	}
	if password != nil {
		if len(password) < passwords.MinLength {
			return &web.UsageError{Msg: fmt.Sprintf("the password has %d characters: give at least %d", len(password), passwords.MinLength)}
		}
		if err := c.pw.Set(name, password); err != nil {
			return fmt.Errorf("store the password hash of %s: %w", name, err)
		}
	}
	id := "account-" + engine.RandomID()[:8]
	if _, err := c.a.eng.Start(ctx, account.Kind, id, events.SourceOperator, ev); err != nil {
		if errors.Is(err, events.ErrConflict) {
			return fmt.Errorf("record the account change of %s: %v: %w", name, err, web.ErrConflict)
		}
		return fmt.Errorf("record the account change of %s: %w", name, err)
	}
	c.log.Printf("console: %s: account %s %s (role %s, active %v), recorded as %s", who.Name, name, change, ev.Role, ev.Active, id)
	return nil
}
