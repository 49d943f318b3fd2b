package pkcs11hsm

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/miekg/pkcs11"
)

// A PKCS#11 module is initialised once per process: a second C_Initialize
// fails and a C_Finalize ends every session of the process. So the
// modules are shared: the first Open loads and initialises one, the last
// Close finalises and unloads it.

var modules = struct {
	sync.Mutex
	byPath map[string]*module
}{byPath: map[string]*module{}}

type module struct {
	path  string
	ctx   *pkcs11.Ctx
	owned bool          // we called C_Initialize, so we call C_Finalize
	users int           // open HSMs on this module
	slots map[uint]bool // slots with an open HSM
}

// acquireModule loads and initialises the module at path, or shares the
// one already loaded, and reserves a use of it.
func acquireModule(path string) (*module, error) {
	// Two paths to one library (a symlink) are one module: key by the file.
	if real, err := filepath.EvalSymlinks(path); err == nil {
		path = real
	}
	modules.Lock()
	defer modules.Unlock()
	if m, ok := modules.byPath[path]; ok {
		m.users++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil && strings.ContainsRune(path, '/') {
		return nil, fmt.Errorf("%w: cannot load the PKCS#11 module at %s: is the library installed? (Debian: softhsm2): %w", ErrModule, path, err)
	}
	ctx := pkcs11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("%w: cannot load the PKCS#11 module at %s: dlopen failed or it has no C_GetFunctionList, so it is not a PKCS#11 library; is the library installed? (Debian: softhsm2)", ErrModule, path)
	}
	owned := true
	if err := ctx.Initialize(pkcs11.InitializeWithFlags(pkcs11.CKF_OS_LOCKING_OK)); err != nil {
		if !isRV(err, pkcs11.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
			ctx.Destroy()
			return nil, fmt.Errorf("%w: C_Initialize of %s failed (for SoftHSM2, check the SOFTHSM2_CONF file and its token directory): %w", ErrModule, path, err)
		}
		owned = false // initialised by other code in this process: theirs to finalise
	}
	m := &module{path: path, ctx: ctx, owned: owned, users: 1, slots: map[uint]bool{}}
	modules.byPath[path] = m
	return m, nil
}

// claimSlot marks slot as used by an HSM; a second claim is refused, since
// the login state of a token is shared by every session of the process.
func (m *module) claimSlot(slot uint, what string) error {
	modules.Lock()
	defer modules.Unlock()
	if m.slots[slot] {
		return fmt.Errorf("%w: %s (slot %d): close the HSM that has it open first", ErrTokenInUse, what, slot)
	}
	m.slots[slot] = true
	return nil
}

func (m *module) releaseSlot(slot uint) {
	modules.Lock()
	defer modules.Unlock()
	delete(m.slots, slot)
}

// release gives back one use; the last one finalises and unloads.
func (m *module) release() error {
	modules.Lock()
	defer modules.Unlock()
	m.users--
	if m.users > 0 {
		return nil
	}
	delete(modules.byPath, m.path)
	var err error
	if m.owned {
		if ferr := m.ctx.Finalize(); ferr != nil && !isRV(ferr, pkcs11.CKR_CRYPTOKI_NOT_INITIALIZED) {
			err = fmt.Errorf("C_Finalize of %s: %w", m.path, ferr)
		}
	}
	m.ctx.Destroy()
	return err
}
