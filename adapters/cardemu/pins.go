package cardemu

import (
	"bytes"
	"crypto/subtle"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// PW1 (references 81 and 82: one PIN, one counter, two verification flags)
// and PW3 (reference 83), per OpenPGP card v3.4 §7.2.2 VERIFY.

func (s *state) pin(ref openpgp.PINRef) []byte {
	if ref == openpgp.PW3 {
		return s.pw3
	}
	return s.pw1
}

func (s *state) tries(ref openpgp.PINRef) int {
	if ref == openpgp.PW3 {
		return s.triesPW3
	}
	return s.triesPW1
}

func (s *state) setTries(ref openpgp.PINRef, n int) {
	if ref == openpgp.PW3 {
		s.triesPW3 = n
	} else {
		s.triesPW1 = n
	}
}

func (s *state) setPIN(ref openpgp.PINRef, pin []byte) {
	if ref == openpgp.PW3 {
		s.pw3 = pin
	} else {
		s.pw1 = pin
	}
}

// clearVerified clears the flags a PIN change or reset invalidates: both
// PW1 flags (81 and 82) for PW1, the PW3 flag for PW3.
func (c *Card) clearVerified(ref openpgp.PINRef) {
	if ref == openpgp.PW3 {
		c.sess.admin = false
		return
	}
	c.sess.pw1Sign, c.sess.pw1User = false, false
}

func pinEqual(stored, given []byte) bool {
	return subtle.ConstantTimeCompare(stored, given) == 1
}

// checkPIN spends a try, compares, and on a match restores the counter
// (v3.4 §7.2.2). The decremented counter is persisted before the comparison,
// so a card pulled mid-command has spent the try. sw is 0 on a match.
func (c *Card) checkPIN(ref openpgp.PINRef, given []byte) (sw uint16) {
	tries := c.st.tries(ref)
	if tries == 0 {
		return swBlocked
	}
	next := c.st.clone()
	next.setTries(ref, tries-1)
	if !c.commit(next) {
		return swMemoryFailure
	}
	if !pinEqual(c.st.pin(ref), given) {
		return wrongPIN(tries - 1).sw
	}
	next = c.st.clone()
	next.setTries(ref, maxTries)
	if !c.commit(next) {
		return swMemoryFailure
	}
	return 0
}

func pinRef(p2 byte) (openpgp.PINRef, bool) {
	ref := openpgp.PINRef(p2)
	return ref, ref == openpgp.PW1Sign || ref == openpgp.PW1 || ref == openpgp.PW3
}

// verify answers VERIFY (v3.4 §7.2.2). Empty data asks for the status: 9000
// if ref is verified, else 63Cx, and spends no try. P1=FF with empty data
// clears the status. A wrong PIN answers 63Cx (x tries left, 63C0 at the
// last); a blocked PIN answers 6983.
func (c *Card) verify(cmd command) response {
	ref, ok := pinRef(cmd.p2)
	if !ok {
		return status(swWrongP1P2)
	}
	switch cmd.p1 {
	case 0x00:
	case 0xFF:
		if len(cmd.data) != 0 {
			return status(swWrongLength)
		}
		c.sess.setVerified(ref, false)
		return status(swOK)
	default:
		return status(swWrongP1P2)
	}
	if len(cmd.data) == 0 {
		if c.sess.verified(ref) {
			return status(swOK)
		}
		return wrongPIN(c.st.tries(ref))
	}
	if sw := c.checkPIN(ref, cmd.data); sw != 0 {
		c.sess.setVerified(ref, false)
		return status(sw)
	}
	c.sess.setVerified(ref, true)
	return status(swOK)
}

// changeReferenceData answers CHANGE REFERENCE DATA (v3.4 §7.2.3): P2 81
// (PW1) or 83 (PW3), data old||new split at the stored PIN length. A wrong
// old PIN spends a try. The new PIN must be 6 to 127 bytes (6 for PW3 too,
// as the appliance's cards use 6-digit PINs), else 6A80 and no change. On
// success the counter is reset and the PIN's verification cleared.
func (c *Card) changeReferenceData(cmd command) response {
	ref := openpgp.PINRef(cmd.p2)
	if cmd.p1 != 0x00 || (ref != openpgp.PW1Sign && ref != openpgp.PW3) {
		return status(swWrongP1P2)
	}
	old := c.st.pin(ref)
	given := cmd.data[:min(len(old), len(cmd.data))]
	if sw := c.checkPIN(ref, given); sw != 0 {
		c.clearVerified(ref)
		return status(sw)
	}
	newPIN := cmd.data[len(given):]
	if checkPINLen("new PIN", newPIN) != nil {
		return status(swBadData)
	}
	next := c.st.clone()
	next.setPIN(ref, bytes.Clone(newPIN))
	if !c.commit(next) {
		return status(swMemoryFailure)
	}
	c.clearVerified(ref)
	return status(swOK)
}

// resetRetryCounter answers RESET RETRY COUNTER (v3.4 §7.2.4) for PW1 (P2
// 81). P1=02: new PW1 as data, needs PW3 verified; the counter is reset.
// P1=00 (with the resetting code) answers 6983: no resetting code is set.
func (c *Card) resetRetryCounter(cmd command) response {
	if cmd.p2 != byte(openpgp.PW1Sign) {
		return status(swWrongP1P2)
	}
	switch cmd.p1 {
	case 0x00:
		return status(swBlocked)
	case 0x02:
	default:
		return status(swWrongP1P2)
	}
	if !c.sess.admin {
		return status(swSecurityStatus)
	}
	if checkPINLen("new PIN", cmd.data) != nil {
		return status(swBadData)
	}
	next := c.st.clone()
	next.setPIN(openpgp.PW1, bytes.Clone(cmd.data))
	next.setTries(openpgp.PW1, maxTries)
	if !c.commit(next) {
		return status(swMemoryFailure)
	}
	c.clearVerified(openpgp.PW1)
	return status(swOK)
}
