package cardemu

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

func must(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func mustErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: error %v, want %v", what, err, want)
	}
}

// ephemeral is a fresh P-256 key, as the party encrypting to the card makes.
func ephemeral(t *testing.T) *ecdh.PrivateKey {
	t.Helper()
	k, err := ecdh.P256().GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sharedWith computes what the card must answer: ECDH(eph, card public key).
func sharedWith(t *testing.T, eph *ecdh.PrivateKey, cardPoint []byte) []byte {
	t.Helper()
	pub, err := ecdh.P256().NewPublicKey(cardPoint)
	if err != nil {
		t.Fatalf("the card's public key is not a P-256 point: %v", err)
	}
	x, err := eph.ECDH(pub)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// raw sends cmd through a transport and maps the status word as the client
// does.
func raw(t *testing.T, tr openpgp.Transport, cmd []byte) ([]byte, error) {
	t.Helper()
	resp, err := tr.Transmit(cmd)
	if err != nil {
		t.Fatalf("transmit % X: %v", cmd, err)
	}
	data, sw, err := openpgp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	return data, openpgp.StatusError(sw, "raw")
}

func TestGenerateDecryptionKey(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.client
	must(t, "select", c.Select())

	_, err := c.DecryptionPublicKey()
	mustErr(t, "public key before generation", err, openpgp.ErrNotFound)
	_, err = c.GenerateDecryptionKey()
	mustErr(t, "generate without a PIN", err, openpgp.ErrSecurityStatus)
	must(t, "verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	must(t, "verify PW1 (81)", c.Verify(openpgp.PW1Sign, []byte("123456")))
	_, err = c.GenerateDecryptionKey()
	mustErr(t, "generate with PW1 only", err, openpgp.ErrSecurityStatus)
	if got := mustSW(t, e.card, "00 CA 00 DE 00", 0x9000); !bytes.Equal(got, apdu(t, "01 00 02 00 03 00")) {
		t.Errorf("DE before generation: % X", got)
	}

	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	point, err := c.GenerateDecryptionKey()
	must(t, "generate", err)
	if len(point) != 65 || point[0] != 0x04 {
		t.Fatalf("point of %d bytes starting %02X", len(point), point[0])
	}
	if _, err := ecdh.P256().NewPublicKey(point); err != nil {
		t.Fatalf("not a P-256 point: %v", err)
	}
	read, err := c.DecryptionPublicKey()
	must(t, "read public key", err)
	if !bytes.Equal(read, point) {
		t.Fatalf("read % X, generated % X", read, point)
	}

	// The raw answers: 7F49 43 86 41 point, to GENERATE and READ PUBLIC KEY
	// in either CRT form; the other slots still have no key.
	if got := mustSW(t, e.card, "00 47 81 00 02 B8 00 00", 0x9000); !bytes.Equal(got, append(apdu(t, "7F 49 43 86 41"), point...)) {
		t.Errorf("READ PUBLIC KEY answered % X", got)
	}
	if got := mustSW(t, e.card, "00 47 81 00 05 B8 03 84 01 02 00", 0x9000); !bytes.Equal(got[5:], point) {
		t.Errorf("READ PUBLIC KEY (GoKey form) answered % X", got)
	}
	mustSW(t, e.card, "00 47 81 00 02 B6 00 00", 0x6A88)
	mustSW(t, e.card, "00 47 81 00 02 A4 00 00", 0x6A88)
	mustSW(t, e.card, "00 47 81 00 02 B8 00 10", 0x6C46) // Le too small

	// DE says generated; C2 and 6E say ECDH P-256.
	if got := mustSW(t, e.card, "00 CA 00 DE 00", 0x9000); !bytes.Equal(got, apdu(t, "01 00 02 01 03 00")) {
		t.Errorf("DE after generation: % X", got)
	}
	ard := mustSW(t, e.card, "00 CA 00 6E 00", 0x9000)
	if de, ok := tlvFind(t, ard, 0xDE); !ok || !bytes.Equal(de, apdu(t, "01 00 02 01 03 00")) {
		t.Errorf("6E/DE: % X", de)
	}
	if c2, ok := tlvFind(t, ard, 0xC2); !ok || !bytes.Equal(c2, apdu(t, "12 2A 86 48 CE 3D 03 01 07")) {
		t.Errorf("6E/C2: % X", c2)
	}

	// A second generation replaces the key.
	again, err := c.GenerateDecryptionKey()
	must(t, "generate again", err)
	if bytes.Equal(again, point) {
		t.Fatal("a new generation gave the same key")
	}
	if read, _ := c.DecryptionPublicKey(); !bytes.Equal(read, again) {
		t.Fatal("public key is not the new one")
	}

	// It survives a reopen of the image.
	e.reader.Remove()
	card, err := Open(e.card.Path())
	must(t, "reopen", err)
	e2 := insert(t, card)
	must(t, "select", e2.client.Select())
	read, err = e2.client.DecryptionPublicKey()
	must(t, "public key after reopen", err)
	if !bytes.Equal(read, again) {
		t.Fatalf("after reopen % X, want % X", read, again)
	}
}

func TestDecipherECDH(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.client
	must(t, "select", c.Select())
	eph := ephemeral(t)
	ephPoint := eph.PublicKey().Bytes()

	must(t, "verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	_, err := c.DecipherECDH(ephPoint)
	mustErr(t, "decipher with no key", err, openpgp.ErrNotFound)
	must(t, "clear PW1", c.ClearVerification(openpgp.PW1))

	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	cardPoint, err := c.GenerateDecryptionKey()
	must(t, "generate", err)
	want := sharedWith(t, eph, cardPoint)

	_, err = c.DecipherECDH(ephPoint)
	mustErr(t, "decipher with PW3 only", err, openpgp.ErrSecurityStatus)
	must(t, "verify PW1 (81)", c.Verify(openpgp.PW1Sign, []byte("123456")))
	_, err = c.DecipherECDH(ephPoint)
	mustErr(t, "decipher with PW1 (81) and PW3", err, openpgp.ErrSecurityStatus)

	must(t, "verify PW1 (82)", c.Verify(openpgp.PW1, []byte("123456")))
	got, err := c.DecipherECDH(ephPoint)
	must(t, "decipher", err)
	if !bytes.Equal(got, want) || len(got) != 32 {
		t.Fatalf("shared secret % X, want % X", got, want)
	}
	// Deciphering needs no PW3 and changes nothing.
	must(t, "clear PW3", c.ClearVerification(openpgp.PW3))
	if again, err := c.DecipherECDH(ephPoint); err != nil || !bytes.Equal(again, want) {
		t.Fatalf("second decipher: % X %v", again, err)
	}
	// Another ephemeral key gives another secret.
	other := ephemeral(t)
	if x, err := c.DecipherECDH(other.PublicKey().Bytes()); err != nil || !bytes.Equal(x, sharedWith(t, other, cardPoint)) || bytes.Equal(x, want) {
		t.Fatalf("other ephemeral key: % X %v", x, err)
	}

	// Points the card must refuse.
	x, y := ephPoint[1:33], ephPoint[33:]
	offCurve := bytes.Clone(ephPoint)
	offCurve[64] ^= 0x01
	compressed := append([]byte{0x02 | y[31]&1}, x...)
	p := apdu(t, "FFFFFFFF 00000001 00000000 00000000 00000000 FFFFFFFF FFFFFFFF FFFFFFFF")
	for name, point := range map[string][]byte{
		"not on the curve":  offCurve,
		"compressed":        compressed,
		"no 04 prefix":      ephPoint[1:],
		"05 prefix":         append([]byte{0x05}, ephPoint[1:]...),
		"point at infinity": {0x00},
		"X equal to p":      append(append([]byte{0x04}, p...), y...),
		"one byte too many": append(bytes.Clone(ephPoint), 0x00),
		"X25519-sized":      x,
		"97 bytes":          bytes.Repeat([]byte{0x04}, 97),
	} {
		_, err := c.DecipherECDH(point)
		mustErr(t, "decipher, point "+name, err, openpgp.ErrBadData)
	}

	// Malformed TLVs around a good point.
	tr := e.reader.Transport()
	h := hex.EncodeToString
	P := h(ephPoint)
	for name, data := range map[string]string{
		"outer tag A7":             "A7 46 7F49 43 86 41" + P,
		"outer length too long":    "A6 47 7F49 43 86 41" + P,
		"outer length too short":   "A6 45 7F49 43 86 41" + P,
		"outer length not minimal": "A6 81 46 7F49 43 86 41" + P,
		"no 7F49 level":            "A6 43 86 41" + P,
		"7F48 instead of 7F49":     "A6 46 7F48 43 86 41" + P,
		"7F49 length not minimal":  "A6 47 7F49 81 43 86 41" + P,
		"86 length not minimal":    "A6 47 7F49 44 86 81 41" + P,
		"87 instead of 86":         "A6 46 7F49 43 87 41" + P,
		"byte after A6":            "A6 46 7F49 43 86 41" + P + "00",
		"byte after 7F49":          "A6 47 7F49 43 86 41" + P + "00",
		"byte after 86":            "A6 47 7F49 44 86 41" + P + "00",
		"RSA cryptogram":           "00" + P,
		"AES cryptogram":           "02" + strings.Repeat("00", 32),
		"no data":                  "",
	} {
		b := apdu(t, data)
		cmd := append(apdu(t, "00 2A 80 86"), byte(len(b)))
		cmd = append(append(cmd, b...), 0x00)
		if len(b) == 0 {
			cmd = apdu(t, "00 2A 80 86 00")
		}
		_, err := raw(t, tr, cmd)
		mustErr(t, "decipher, "+name, err, openpgp.ErrBadData)
	}

	// The same command chained in two parts (CLA 10).
	body := apdu(t, "A6 46 7F49 43 86 41"+P)
	first := append(apdu(t, "10 2A 80 86 20"), body[:32]...)
	if data, err := raw(t, tr, first); err != nil || len(data) != 0 {
		t.Fatalf("chain part 1: % X %v", data, err)
	}
	last := append(append([]byte{0x00, 0x2A, 0x80, 0x86, byte(len(body) - 32)}, body[32:]...), 0x00)
	if data, err := raw(t, tr, last); err != nil || !bytes.Equal(data, want) {
		t.Fatalf("chained decipher: % X %v", data, err)
	}

	// After a new generation the old shared secret no longer comes out.
	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	newPoint, err := c.GenerateDecryptionKey()
	must(t, "generate again", err)
	got, err = c.DecipherECDH(ephPoint)
	must(t, "decipher with the new key", err)
	if bytes.Equal(got, want) {
		t.Fatal("the old shared secret still comes out after a new generation")
	}
	if !bytes.Equal(got, sharedWith(t, eph, newPoint)) {
		t.Fatal("the new shared secret does not match the new public key")
	}

	// PIN state is volatile: after a reset PW1 is needed again.
	e.card.Reset()
	must(t, "select", c.Select())
	_, err = c.DecipherECDH(ephPoint)
	mustErr(t, "decipher after a reset", err, openpgp.ErrSecurityStatus)
}

func TestDecryptionKeySurvivesReopen(t *testing.T) {
	e := newEnv(t, Options{Serial: 9})
	c := e.client
	must(t, "select", c.Select())
	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	point, err := c.GenerateDecryptionKey()
	must(t, "generate", err)
	eph := ephemeral(t)
	want := sharedWith(t, eph, point)

	e.reader.Remove()
	card, err := Open(e.card.Path())
	must(t, "reopen", err)
	e2 := insert(t, card)
	c = e2.client
	must(t, "select", c.Select())
	got, err := c.DecryptionPublicKey()
	must(t, "public key after reopen", err)
	if !bytes.Equal(got, point) {
		t.Fatalf("public key after reopen % X, want % X", got, point)
	}
	_, err = c.DecipherECDH(eph.PublicKey().Bytes())
	mustErr(t, "decipher without PIN after reopen", err, openpgp.ErrSecurityStatus)
	must(t, "verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	x, err := c.DecipherECDH(eph.PublicKey().Bytes())
	must(t, "decipher after reopen", err)
	if !bytes.Equal(x, want) {
		t.Fatal("the shared secret changed across a reopen")
	}
}

func TestVersion1ImageOpens(t *testing.T) {
	path := filepath.Join(t.TempDir(), "card.json")
	v1 := `{
  "format": "ceremony-card-image",
  "version": 1,
  "manufacturer": "FFFE",
  "serial": "00000011",
  "pw1": "313233343536",
  "pw3": "313233343536",
  "pw1_tries": 2,
  "pw3_tries": 3,
  "data_objects": {"0103": "736563726574"}
}
`
	must(t, "write", os.WriteFile(path, []byte(v1), 0o600))
	card, err := Open(path)
	must(t, "open version 1", err)
	e := insert(t, card)
	c := e.client
	must(t, "select", c.Select())
	_, err = c.DecryptionPublicKey()
	mustErr(t, "public key of a version-1 card", err, openpgp.ErrNotFound)
	if b, _ := os.ReadFile(path); string(b) != v1 {
		t.Error("opening and reading rewrote the version-1 image")
	}
	if n, _, err := c.RetriesLeft(openpgp.PW1); n != 2 || err != nil {
		t.Errorf("PW1 tries %d %v, want 2", n, err)
	}
	must(t, "verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	if d, err := c.ReadPrivateDO(0x0103); err != nil || string(d) != "secret" {
		t.Errorf("0103 = %q %v", d, err)
	}

	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	point, err := c.GenerateDecryptionKey()
	must(t, "generate", err)

	var img map[string]any
	b, _ := os.ReadFile(path)
	must(t, "parse the new image", json.Unmarshal(b, &img))
	if img["version"] != 2.0 || len(img["decryption_key"].(string)) != 64 {
		t.Errorf("image after generation: version %v, key field of %d characters", img["version"], len(img["decryption_key"].(string)))
	}
	e.reader.Remove()
	card, err = Open(path)
	must(t, "reopen", err)
	e = insert(t, card)
	must(t, "select", e.client.Select())
	if got, err := e.client.DecryptionPublicKey(); err != nil || !bytes.Equal(got, point) {
		t.Fatalf("public key after reopen: % X %v", got, err)
	}
}

func TestOpenRefusesBadKeys(t *testing.T) {
	order := "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"
	image := func(key string) []byte {
		b, _ := json.Marshal(map[string]any{
			"format": "ceremony-card-image", "version": 2,
			"manufacturer": "FFFE", "serial": "00000001",
			"pw1": "313233343536", "pw3": "313233343536",
			"pw1_tries": 3, "pw3_tries": 3,
			"data_objects":   map[string]string{},
			"decryption_key": key,
		})
		return b
	}
	for _, tt := range []struct {
		name, key, msg string
	}{
		{"not hex", strings.Repeat("7z", 32), "not valid hex"},
		{"odd length", strings.Repeat("7", 63), "not valid hex"},
		{"31 bytes", strings.Repeat("7a", 31), "31 bytes, want 32"},
		{"33 bytes", strings.Repeat("7a", 33), "33 bytes, want 32"},
		{"zero", strings.Repeat("00", 32), "not a P-256 private key"},
		{"the group order", order, "not a P-256 private key"},
		{"all ones", strings.Repeat("FF", 32), "not a P-256 private key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "card.json")
			must(t, "write", os.WriteFile(path, image(tt.key), 0o600))
			_, err := Open(path)
			if !errors.Is(err, ErrBadImage) || !strings.Contains(err.Error(), "decryption_key") || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("error %v, want ErrBadImage naming decryption_key and %q", err, tt.msg)
			}
			if strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(tt.key[:16])) {
				t.Errorf("error %q leaks the key", err)
			}
		})
	}

	t.Run("good key, upper-case hex", func(t *testing.T) {
		scalar := bytes.Repeat([]byte{0x01}, 32)
		key, err := ecdh.P256().NewPrivateKey(scalar)
		must(t, "key", err)
		path := filepath.Join(t.TempDir(), "card.json")
		must(t, "write", os.WriteFile(path, image(strings.ToUpper(hex.EncodeToString(scalar))), 0o600))
		card, err := Open(path)
		must(t, "open", err)
		e := insert(t, card)
		must(t, "select", e.client.Select())
		if got, err := e.client.DecryptionPublicKey(); err != nil || !bytes.Equal(got, key.PublicKey().Bytes()) {
			t.Fatalf("public key % X %v", got, err)
		}
	})
	t.Run("empty key", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "card.json")
		must(t, "write", os.WriteFile(path, image(""), 0o600))
		card, err := Open(path)
		must(t, "open", err)
		if card.st.decKey != nil {
			t.Fatal("an empty decryption_key gave a key")
		}
	})
}

// TestPrivateKeyNeverLeaves reads every GET DATA tag and every public key
// with all PINs verified: no answer holds the private scalar, in binary or
// in hex. The image does (that is documented).
func TestPrivateKeyNeverLeaves(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.card
	mustSW(t, c, selectCmd, 0x9000)
	for _, ref := range []string{"81", "82", "83"} {
		mustSW(t, c, pinAPDU("00 20 00 "+ref, "123456"), 0x9000)
	}
	mustSW(t, c, "00 47 80 00 02 B8 00 00", 0x9000)
	c.mu.Lock()
	scalar := c.st.decKey.Bytes()
	c.mu.Unlock()
	secrets := [][]byte{scalar, []byte(hex.EncodeToString(scalar)), []byte(strings.ToUpper(hex.EncodeToString(scalar)))}
	leaks := func(what string, resp []byte) {
		t.Helper()
		for _, s := range secrets {
			if bytes.Contains(resp, s) {
				t.Fatalf("%s reveals the private key", what)
			}
		}
	}
	if img, _ := os.ReadFile(c.Path()); !bytes.Contains(img, secrets[1]) {
		t.Fatal("the image does not hold the key: this test checks nothing")
	}
	for tag := range 0x10000 {
		resp := c.Process([]byte{0x00, 0xCA, byte(tag >> 8), byte(tag), 0x00})
		leaks("GET DATA", resp)
		for i := 0; len(resp) == 258 && resp[256] == 0x61 && i < 16; i++ {
			resp = c.Process([]byte{0x00, 0xC0, 0x00, 0x00, resp[257]})
			leaks("GET RESPONSE", resp)
		}
	}
	for _, crt := range []string{"B6 00", "B8 00", "A4 00", "B8 03 84 01 02"} {
		n := len(apdu(t, crt))
		cmd := append([]byte{0x00, 0x47, 0x81, 0x00, byte(n)}, apdu(t, crt)...)
		leaks("READ PUBLIC KEY "+crt, c.Process(append(cmd, 0x00)))
	}
}

func TestGeneratePersistFailureKeepsTheOldKey(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.client
	must(t, "select", c.Select())
	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	point, err := c.GenerateDecryptionKey()
	must(t, "generate", err)
	before, _ := os.ReadFile(e.card.Path())

	e.card.mu.Lock()
	e.card.persist = func([]byte) error { return errors.New("disk full") }
	e.card.mu.Unlock()
	_, err = c.GenerateDecryptionKey()
	mustErr(t, "generate with a failing disk", err, openpgp.ErrMemoryFailure)
	if got, err := c.DecryptionPublicKey(); err != nil || !bytes.Equal(got, point) {
		t.Fatalf("public key after a failed generation: % X %v", got, err)
	}
	if after, _ := os.ReadFile(e.card.Path()); !bytes.Equal(after, before) {
		t.Fatal("the image changed")
	}
}

func TestTearDoesNotAffectGeneration(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.client
	must(t, "select", c.Select())
	must(t, "verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	e.card.TearNextWrite(0)
	_, err := c.GenerateDecryptionKey()
	must(t, "generate with a tear armed", err)
	// The tear is still armed for the next private DO write.
	mustErr(t, "torn write", c.WritePrivateDO(0x0104, []byte("x")), ErrCardRemoved)
}
