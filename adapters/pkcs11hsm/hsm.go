package pkcs11hsm

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unsafe"

	"github.com/miekg/pkcs11"

	"github.com/ceremony-hsm/ceremony/ceremonies"
)

// HSM is one logged-in session on one PKCS#11 token. It implements
// ceremonies.HSM. Calls are serialised on the session.
type HSM struct {
	name   string
	label  string
	serial string
	slot   uint
	mod    *module

	mu        sync.Mutex // guards everything below and every call on session
	session   pkcs11.SessionHandle
	ownsLogin bool // we logged in, so we log out
	closed    bool
}

var _ ceremonies.HSM = (*HSM)(nil)

// Open loads the module, initialises it, finds the one token matching
// cfg.Token, opens a read/write session on it and logs in as the user
// with the PIN from the PIN source. Close the HSM when done.
func Open(ctx context.Context, cfg Config) (*HSM, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("pkcs11hsm: open: %w", err)
	}
	t, err := resolve(cfg)
	if err != nil {
		return nil, fmt.Errorf("pkcs11hsm: open: %w", err)
	}
	m, err := acquireModule(t.module)
	if err != nil {
		return nil, fmt.Errorf("pkcs11hsm: open: %w", err)
	}
	h, err := openOn(m, t, cfg.Token)
	if err != nil {
		if rerr := m.release(); rerr != nil {
			err = errors.Join(err, rerr)
		}
		return nil, fmt.Errorf("pkcs11hsm: open: %w", err)
	}
	return h, nil
}

// openOn finds the token on m, claims its slot, opens a session and logs in.
func openOn(m *module, t target, wanted string) (*HSM, error) {
	slot, info, err := findToken(m, t, wanted)
	if err != nil {
		return nil, err
	}
	h := &HSM{name: t.name, label: info.Label, serial: info.SerialNumber, slot: slot, mod: m}
	if h.name == "" {
		h.name = formatTokenName(info.Label)
	}
	if err := m.claimSlot(slot, fmt.Sprintf("token %q", info.Label)); err != nil {
		return nil, err
	}
	session, err := m.ctx.OpenSession(slot, pkcs11.CKF_SERIAL_SESSION|pkcs11.CKF_RW_SESSION)
	if err != nil {
		m.releaseSlot(slot)
		return nil, fmt.Errorf("%s: %w", h.name, translate("open a read/write session", err))
	}
	h.session = session
	if err := h.login(t.pin); err != nil {
		_ = m.ctx.CloseSession(session)
		m.releaseSlot(slot)
		return nil, fmt.Errorf("%s: %w", h.name, err)
	}
	return h, nil
}

// findToken returns the one initialised token matching t.
func findToken(m *module, t target, wanted string) (uint, pkcs11.TokenInfo, error) {
	slots, err := m.ctx.GetSlotList(true)
	if err != nil {
		return 0, pkcs11.TokenInfo{}, translate("list the slots", err)
	}
	var present []string
	var found []uint
	var infos []pkcs11.TokenInfo
	for _, slot := range slots {
		info, err := m.ctx.GetTokenInfo(slot)
		if err != nil || info.Flags&pkcs11.CKF_TOKEN_INITIALIZED == 0 {
			continue // removed meanwhile, or a blank token: not a candidate
		}
		present = append(present, describeToken(info))
		if tokenMatches(t, slot, info) {
			found = append(found, slot)
			infos = append(infos, info)
		}
	}
	switch len(found) {
	case 1:
		return found[0], infos[0], nil
	case 0:
		list := "none"
		if len(present) > 0 {
			list = strings.Join(present, ", ")
		}
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("%w: no token matches %s in %s; tokens present: %s: check the token label, serial or URI",
			ErrTokenNotFound, wanted, m.path, list)
	default:
		var names []string
		for _, info := range infos {
			names = append(names, describeToken(info))
		}
		return 0, pkcs11.TokenInfo{}, fmt.Errorf("%w %s: %s: name it by serial, or by a URI with token= and serial=",
			ErrAmbiguousToken, wanted, strings.Join(names, " and "))
	}
}

func tokenMatches(t target, slot uint, info pkcs11.TokenInfo) bool {
	if t.plain != "" {
		return info.Label == t.plain || info.SerialNumber == t.plain
	}
	u := t.match
	return (u.Token == "" || u.Token == info.Label) &&
		(u.Serial == "" || u.Serial == info.SerialNumber) &&
		(u.Manufacturer == "" || u.Manufacturer == info.ManufacturerID) &&
		(u.Model == "" || u.Model == info.Model) &&
		(!u.HasSlotID || u.SlotID == slot)
}

func describeToken(info pkcs11.TokenInfo) string {
	return fmt.Sprintf("%q (serial %s)", info.Label, info.SerialNumber)
}

// login reads the PIN, presents it with C_Login and wipes it.
func (h *HSM) login(src PINSource) error {
	pin, err := src.read()
	if err != nil {
		return fmt.Errorf("login: %w", err)
	}
	defer ceremonies.Wipe(pin)
	// The string shares pin's bytes, so wiping pin wipes it too; the
	// module binding copies it to C memory for the call only.
	err = h.mod.ctx.Login(h.session, pkcs11.CKU_USER, unsafe.String(unsafe.SliceData(pin), len(pin)))
	switch {
	case err == nil:
		h.ownsLogin = true
		return nil
	case isRV(err, pkcs11.CKR_USER_ALREADY_LOGGED_IN):
		return nil // logged in by other code in this process; theirs to log out
	default:
		return translate(fmt.Sprintf("login with the PIN from the %s", src.describe()), err)
	}
}

// Name implements ceremonies.HSM: cfg.Name, or "pkcs11:token=<label>".
func (h *HSM) Name() string { return h.name }

// Module returns the path of the PKCS#11 module the token is in.
func (h *HSM) Module() string { return h.mod.path }

// Token returns the label and serial number of the token.
func (h *HSM) Token() (label, serial string) { return h.label, h.serial }

// Close logs out, closes the session and, with the last HSM of the
// module, finalises and unloads it. Calling it again does nothing.
func (h *HSM) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return nil
	}
	h.closed = true
	var errs []error
	if h.ownsLogin {
		if err := h.mod.ctx.Logout(h.session); err != nil && !isRV(err, pkcs11.CKR_USER_NOT_LOGGED_IN) {
			errs = append(errs, translate("logout", err))
		}
	}
	if err := h.mod.ctx.CloseSession(h.session); err != nil &&
		!isRV(err, pkcs11.CKR_SESSION_HANDLE_INVALID) && !isRV(err, pkcs11.CKR_SESSION_CLOSED) {
		errs = append(errs, translate("close the session", err))
	}
	h.mod.releaseSlot(h.slot)
	if err := h.mod.release(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("pkcs11hsm %s: close: %w", h.name, errors.Join(errs...))
	}
	return nil
}

// begin checks the HSM can be used; the caller holds h.mu.
func (h *HSM) begin(ctx context.Context) error {
	if h.closed {
		return fmt.Errorf("%w: open it again", ErrClosed)
	}
	return ctx.Err()
}

// WithSession runs fn on the HSM's logged-in session, holding the HSM's
// lock, and returns fn's error. It is for tests and tools that need a
// PKCS#11 call this package does not offer (softhsmtest uses it). fn must
// not log out, close the session or finalise the module, and must finish
// any operation it starts (a C_FindObjectsInit needs its
// C_FindObjectsFinal); it must not call methods of h, which would wait on
// the lock it holds.
func (h *HSM) WithSession(fn func(ctx *pkcs11.Ctx, s pkcs11.SessionHandle) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return fmt.Errorf("pkcs11hsm %s: %w: open it again", h.name, ErrClosed)
	}
	return fn(h.mod.ctx, h.session)
}
