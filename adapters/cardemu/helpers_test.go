package cardemu

import (
	"encoding/hex"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// env is a card in a reader with a client talking to it.
type env struct {
	t      *testing.T
	card   *Card
	reader *Reader
	client *openpgp.Client
}

func newEnv(t *testing.T, opts Options) *env {
	t.Helper()
	path := filepath.Join(t.TempDir(), "card.json")
	card, err := Create(path, opts)
	if err != nil {
		t.Fatalf("Create: %v", err)
	}
	return insert(t, card)
}

func insert(t *testing.T, card *Card) *env {
	t.Helper()
	r := NewReader("Test Reader 00")
	if err := r.Insert(card); err != nil {
		t.Fatalf("Insert: %v", err)
	}
	return &env{t: t, card: card, reader: r, client: openpgp.NewClient(r.Transport())}
}

// apdu parses a hex command ("00 CA 00 4F 00").
func apdu(t testing.TB, s string) []byte {
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		if t == nil {
			panic(err)
		}
		t.Helper()
		t.Fatalf("bad hex %q: %v", s, err)
	}
	return b
}

// send runs a hex command on the card and splits the answer.
func send(t *testing.T, c *Card, cmd string) ([]byte, uint16) {
	t.Helper()
	resp := c.Process(apdu(t, cmd))
	if len(resp) < 2 {
		t.Fatalf("%s: response % X", cmd, resp)
	}
	n := len(resp) - 2
	return resp[:n], uint16(resp[n])<<8 | uint16(resp[n+1])
}

// mustSW runs a command and checks its status word.
func mustSW(t *testing.T, c *Card, cmd string, want uint16) []byte {
	t.Helper()
	data, sw := send(t, c, cmd)
	if sw != want {
		t.Fatalf("%s: SW %04X, want %04X", cmd, sw, want)
	}
	return data
}

// pinAPDU builds a command with a text PIN as data.
func pinAPDU(header string, pin string) string {
	return header + " " + hex.EncodeToString([]byte{byte(len(pin))}) + " " + hex.EncodeToString([]byte(pin))
}

// tlvFind walks BER-TLV data (one- or two-byte tags, lengths up to 82 xxxx)
// and returns the value of tag, descending into constructed DOs.
func tlvFind(t *testing.T, data []byte, tag uint16) ([]byte, bool) {
	t.Helper()
	for len(data) > 0 {
		tg := uint16(data[0])
		n := 1
		if data[0]&0x1F == 0x1F {
			if len(data) < 2 {
				t.Fatalf("truncated tag in % X", data)
			}
			tg = tg<<8 | uint16(data[1])
			n = 2
		}
		if len(data) < n+1 {
			t.Fatalf("truncated length in % X", data)
		}
		l := int(data[n])
		n++
		switch {
		case l == 0x81:
			l = int(data[n])
			n++
		case l == 0x82:
			l = int(data[n])<<8 | int(data[n+1])
			n += 2
		case l > 0x7F:
			t.Fatalf("bad length byte %02X", l)
		}
		if len(data) < n+l {
			t.Fatalf("tag %X: length %d exceeds the %d bytes left", tg, l, len(data)-n)
		}
		value := data[n : n+l]
		if tg == tag {
			return value, true
		}
		constructed := (tg>>8 == 0 && tg&0x20 != 0) || (tg>>8 != 0 && tg>>8&0x20 != 0)
		if constructed {
			if v, ok := tlvFind(t, value, tag); ok {
				return v, true
			}
		}
		data = data[n+l:]
	}
	return nil, false
}
