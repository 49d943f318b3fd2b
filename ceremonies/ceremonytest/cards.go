package ceremonytest

import (
	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// Client talks to one of the rig's cards in a reader of its own, after
// taking whatever card is in the station's reader out; pull takes the
// card out of the bench reader.
func (r *Rig) Client(name string) (cl *openpgp.Client, pull func()) {
	r.T.Helper()
	r.Hand.Reader.Remove()
	return r.bench(name)
}

// WithCard puts the card alone into a scratch reader and verifies PW3.
func (r *Rig) WithCard(name string) (*openpgp.Client, func()) {
	r.T.Helper()
	c, done := r.bench(name)
	if err := c.Verify(openpgp.PW3, []byte(r.PINs[name])); err != nil {
		r.T.Fatal(err)
	}
	return c, done
}

func (r *Rig) bench(name string) (*openpgp.Client, func()) {
	r.T.Helper()
	rd := cardemu.NewReader("Test bench")
	if err := rd.Insert(r.Cards[name]); err != nil {
		r.T.Fatal(err)
	}
	c := openpgp.NewClient(rd.Transport())
	if err := c.Select(); err != nil {
		r.T.Fatal(err)
	}
	return c, rd.Remove
}

// ReadDO reads a card's backup slot directly, as a test tool.
func (r *Rig) ReadDO(name string) []byte {
	r.T.Helper()
	c, done := r.WithCard(name)
	defer done()
	b, err := c.ReadPrivateDO(0x0104)
	if err != nil {
		r.T.Fatal(err)
	}
	return b
}

// WriteDO writes a card's backup slot directly, as a test tool.
func (r *Rig) WriteDO(name string, data []byte) {
	r.T.Helper()
	c, done := r.WithCard(name)
	defer done()
	if err := c.WritePrivateDO(0x0104, data); err != nil {
		r.T.Fatal(err)
	}
}
