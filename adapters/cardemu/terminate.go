package cardemu

// TERMINATE DF and ACTIVATE FILE (OpenPGP card v3.4 §7.2.16, §7.2.17): the
// way back to the factory state for a card whose PW3 is blocked or whose
// content must go. The terminated state is persisted in the image, so a
// card pulled between the two commands stays terminated.

// terminate answers TERMINATE DF: allowed after PW3 is verified in this
// session or when PW3 is blocked (counter 0), else 6985. The card then
// answers only SELECT (6285) and ACTIVATE FILE.
func (c *Card) terminate(cmd command) response {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return status(swWrongP1P2)
	}
	if !c.sess.admin && c.st.triesPW3 != 0 {
		return status(swConditions)
	}
	next := c.st.clone()
	next.terminated = true
	if !c.commit(next) {
		return status(swMemoryFailure)
	}
	c.sess = session{selected: true}
	return status(swOK)
}

// whileTerminated answers a terminated application: SELECT of the OpenPGP
// application answers 6285 and selects it, ACTIVATE FILE (after that
// SELECT) resets the card to its factory state; anything else answers
// 6285.
func (c *Card) whileTerminated(cmd command) response {
	c.sess.chain = nil
	switch {
	case cmd.cla != 0:
		return status(swTerminated)
	case cmd.ins == insSelect:
		if r := c.selectFile(cmd); r.sw != swOK {
			return r
		}
		return status(swTerminated)
	case cmd.ins == insActivate && c.sess.selected:
		return c.activate(cmd)
	}
	return status(swTerminated)
}

// activate resets a terminated card to its factory state: the same
// manufacturer and serial, both PINs the default, counters at the
// maximum, every DO empty, no key.
func (c *Card) activate(cmd command) response {
	if cmd.p1 != 0 || cmd.p2 != 0 {
		return status(swWrongP1P2)
	}
	next, err := Options{Manufacturer: c.st.manufacturer, Serial: c.st.serial}.initialState()
	if err != nil {
		return status(swMemoryFailure)
	}
	if !c.commit(next) {
		return status(swMemoryFailure)
	}
	c.sess = session{selected: true}
	return status(swOK)
}

// Terminated reports whether the card's application is terminated.
func (c *Card) Terminated() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.st.terminated
}
