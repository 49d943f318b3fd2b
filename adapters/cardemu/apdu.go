package cardemu

// Status words (ISO 7816-4 status bytes, as used by OpenPGP card v3.4).
const (
	swOK              = 0x9000
	swMemoryFailure   = 0x6581
	swWrongLength     = 0x6700
	swLastOfChain     = 0x6883 // last command of the chain expected
	swTerminated      = 0x6285 // the application is terminated (v3.4 §7.2.16)
	swSecurityStatus  = 0x6982
	swBlocked         = 0x6983
	swConditions      = 0x6985
	swBadData         = 0x6A80
	swFuncUnsupported = 0x6A81
	swFileNotFound    = 0x6A82
	swDataNotFound    = 0x6A88
	swWrongP1P2       = 0x6B00
	swINSUnsupported  = 0x6D00
	swCLAUnsupported  = 0x6E00
)

// Instruction bytes (OpenPGP card v3.4 §7.2).
const (
	insSelect        = 0xA4 // §7.2.1
	insVerify        = 0x20 // §7.2.2
	insChangeRefData = 0x24 // §7.2.3
	insResetRetry    = 0x2C // §7.2.4
	insSelectData    = 0xA5 // §7.2.5
	insGetData       = 0xCA // §7.2.6
	insPutData       = 0xDA // §7.2.8
	insPSO           = 0x2A
	insIntAuth       = 0x88
	insGenerate      = 0x47 // §7.2.14
	insGetResponse   = 0xC0 // ISO 7816-4 §7.6.1
	insTerminate     = 0xE6 // §7.2.16 TERMINATE DF
	insActivate      = 0x44 // §7.2.17 ACTIVATE FILE
)

// claChaining is the command chaining bit of CLA (ISO 7816-4 §5.1.1): set on
// every command of a chain but the last.
const claChaining = 0x10

// maxChainData caps the data collected over a command chain: the largest
// writable DO is the 2048-byte certificate 7F21.
const maxChainData = 2048

// command is a parsed short command APDU (ISO 7816-4 §5.1).
type command struct {
	cla, ins, p1, p2 byte
	data             []byte // aliases the caller's buffer: copy before keeping
	ne               int    // expected response length 1..256; 0 when there is no Le field
}

// response is the card's answer before encoding.
type response struct {
	data      []byte
	sw        uint16
	lostPower bool // the card lost power: no answer at all
}

func status(sw uint16) response       { return response{sw: sw} }
func success(data []byte) response    { return response{data: data, sw: swOK} }
func wrongPIN(triesLeft int) response { return status(0x63C0 | uint16(triesLeft&0x0F)) }

// chain is a command chain in progress.
type chain struct {
	ins, p1, p2 byte
	data        []byte
}

// parseCommand decodes a short APDU: cases 1 to 4 are told apart by the
// length and Lc. Extended lengths (Lc = 00 followed by data) are refused.
func parseCommand(b []byte) (command, uint16) {
	if len(b) < 4 {
		return command{}, swWrongLength
	}
	cmd := command{cla: b[0], ins: b[1], p1: b[2], p2: b[3]}
	body := b[4:]
	switch {
	case len(body) == 0: // case 1
	case len(body) == 1: // case 2
		cmd.ne = leToNe(body[0])
	case body[0] == 0: // extended length
		return cmd, swWrongLength
	default:
		lc := int(body[0])
		switch len(body) - 1 - lc {
		case 0: // case 3
			cmd.data = body[1:]
		case 1: // case 4
			cmd.data = body[1 : 1+lc]
			cmd.ne = leToNe(body[1+lc])
		default:
			return cmd, swWrongLength
		}
	}
	return cmd, swOK
}

func leToNe(le byte) int {
	if le == 0 {
		return 256
	}
	return int(le)
}

// dispatch runs one command APDU. The caller holds c.mu.
func (c *Card) dispatch(raw []byte) response {
	cmd, sw := parseCommand(raw)
	if sw != swOK {
		c.sess.chain, c.sess.pending = nil, nil
		return status(sw)
	}
	if cmd.cla&^claChaining != 0 {
		c.sess.chain, c.sess.pending = nil, nil
		return status(swCLAUnsupported)
	}
	if cmd.ins == insGetResponse && cmd.cla == 0 {
		return c.getResponse(cmd)
	}
	c.sess.pending = nil
	if c.st.terminated {
		return c.whileTerminated(cmd)
	}
	// Only SELECT works before the OpenPGP application is selected.
	if cmd.ins != insSelect && !c.sess.selected {
		c.sess.chain = nil
		return status(swConditions)
	}
	cmd, r, done := c.collectChain(cmd)
	if done {
		return r
	}
	return c.fitLe(cmd, c.execute(cmd))
}

// execute runs a complete (unchained) command.
func (c *Card) execute(cmd command) response {
	switch cmd.ins {
	case insSelect:
		return c.selectFile(cmd)
	case insGetData:
		return c.getData(cmd)
	case insPutData:
		return c.putData(cmd)
	case insVerify:
		return c.verify(cmd)
	case insChangeRefData:
		return c.changeReferenceData(cmd)
	case insResetRetry:
		return c.resetRetryCounter(cmd)
	case insSelectData:
		return c.selectData(cmd)
	case insGenerate:
		return c.generate(cmd)
	case insPSO, insIntAuth:
		return c.privateKeyOperation(cmd)
	case insTerminate:
		return c.terminate(cmd)
	case insActivate:
		return status(swOK) // an operational application: nothing to do (§7.2.17)
	default:
		return status(swINSUnsupported)
	}
}

// collectChain handles command chaining (ISO 7816-4 §5.1.1): a command with
// the chaining bit is stored and answered 9000; the last command of the
// chain gets all the data. done reports that r is
// the answer.
func (c *Card) collectChain(cmd command) (full command, r response, done bool) {
	ch := c.sess.chain
	if ch != nil && (ch.ins != cmd.ins || ch.p1 != cmd.p1 || ch.p2 != cmd.p2) {
		c.sess.chain = nil
		return cmd, status(swLastOfChain), true
	}
	if ch != nil && len(ch.data)+len(cmd.data) > maxChainData {
		c.sess.chain = nil
		return cmd, status(swWrongLength), true
	}
	if cmd.cla&claChaining != 0 {
		if ch == nil {
			ch = &chain{ins: cmd.ins, p1: cmd.p1, p2: cmd.p2}
			c.sess.chain = ch
		}
		ch.data = append(ch.data, cmd.data...)
		return cmd, status(swOK), true
	}
	if ch != nil {
		c.sess.chain = nil
		cmd.data = append(ch.data, cmd.data...)
	}
	return cmd, response{}, false
}

// fitLe applies the expected length to a successful answer: data longer
// than Le but at most 256 bytes gives 6Cxx (send again with Le=xx); data
// over 256 bytes is sent in parts, 61xx announcing the rest for GET
// RESPONSE. A command without Le is answered as if Le were 256.
func (c *Card) fitLe(cmd command, r response) response {
	if r.sw != swOK || len(r.data) == 0 {
		return r
	}
	ne := cmd.ne
	if ne == 0 {
		ne = 256
	}
	switch {
	case len(r.data) <= ne:
		return r
	case len(r.data) <= 256:
		return status(0x6C00 | uint16(len(r.data)&0xFF))
	default:
		c.sess.pending = r.data[ne:]
		return response{data: r.data[:ne], sw: moreData(len(c.sess.pending))}
	}
}

// getResponse returns the next part of a long answer (ISO 7816-4 §7.6.1).
func (c *Card) getResponse(cmd command) response {
	c.sess.chain = nil
	pending := c.sess.pending
	c.sess.pending = nil
	switch {
	case cmd.p1 != 0 || cmd.p2 != 0:
		return status(swWrongP1P2)
	case len(cmd.data) != 0:
		return status(swWrongLength)
	case len(pending) == 0:
		return status(swConditions)
	}
	ne := cmd.ne
	if ne == 0 {
		ne = 256
	}
	if len(pending) <= ne {
		return success(pending)
	}
	c.sess.pending = pending[ne:]
	return response{data: pending[:ne], sw: moreData(len(c.sess.pending))}
}

// moreData is 61xx for n more bytes (xx = 00 for 256 or more).
func moreData(n int) uint16 {
	return 0x6100 | uint16(min(n, 256)&0xFF)
}
