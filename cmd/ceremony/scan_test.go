package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/hashicorp/vault/shamir"

	"github.com/ceremony-hsm/ceremony/adapters/cardemu"
	"github.com/ceremony-hsm/ceremony/adapters/jetstream"
	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
	"github.com/ceremony-hsm/ceremony/ceremonies"
	"github.com/ceremony-hsm/ceremony/ceremonies/backupkey"
	"github.com/ceremony-hsm/ceremony/ceremonies/kinds"
	"github.com/ceremony-hsm/ceremony/engine"
	"github.com/ceremony-hsm/ceremony/events"
)

// encodings are the forms a secret could leak in.
func encodings(b []byte) map[string][]byte {
	return map[string][]byte{
		"raw":        b,
		"hex":        []byte(hex.EncodeToString(b)),
		"HEX":        []byte(strings.ToUpper(hex.EncodeToString(b))),
		"base64":     []byte(base64.StdEncoding.EncodeToString(b)),
		"base64-raw": []byte(base64.RawStdEncoding.EncodeToString(b)),
		"base64-url": []byte(base64.RawURLEncoding.EncodeToString(b)),
	}
}

// cardSecrets reads every secret the emulated cards hold (as the test, not
// the product, may): the PINs, the share records and shares, and the keys
// the shares rebuild.
func cardSecrets(t *testing.T, cardsDir string, pins map[string]string) map[string][]byte {
	t.Helper()
	secrets := map[string][]byte{}
	bySet := map[string][][]byte{}
	for name, pin := range pins {
		if pin != ceremonies.DefaultPIN { // the factory default is public
			secrets["PIN of "+name] = []byte(pin)
		}
		cl, _, pull := cardClient(t, filepath.Join(cardsDir, name+".img"))
		if err := cl.Verify(openpgp.PW3, []byte(pin)); err != nil {
			t.Fatal(err)
		}
		do, err := cl.ReadPrivateDO(0x0104)
		pull()
		if err != nil || len(do) == 0 {
			continue
		}
		secrets["share record of "+name] = do
		if rec, err := backupkey.DecodeRecord(do); err == nil {
			secrets["share of "+name] = rec.Share
			dup := false // a copied share counts once
			for _, have := range bySet[rec.KeySetHex()] {
				dup = dup || bytes.Equal(have, rec.Share)
			}
			if !dup {
				bySet[rec.KeySetHex()] = append(bySet[rec.KeySetHex()], rec.Share)
			}
		}
	}
	for set, shares := range bySet {
		if len(shares) < 2 {
			continue
		}
		key, err := shamir.Combine(shares)
		if err != nil {
			t.Fatal(err)
		}
		secrets["key of set "+set] = key
	}
	if len(secrets) == 0 {
		t.Fatal("the cards hold no secret: the scan would prove nothing")
	}
	return secrets
}

// cardClient opens an emulated card image, puts it alone in a scratch
// reader and selects the OpenPGP application, as a test tool (not the
// product) may. pull takes the card out.
func cardClient(t *testing.T, path string) (cl *openpgp.Client, c *cardemu.Card, pull func()) {
	t.Helper()
	c, err := cardemu.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rd := cardemu.NewReader("test tool")
	if err := rd.Insert(c); err != nil {
		t.Fatal(err)
	}
	cl = openpgp.NewClient(rd.Transport())
	if err := cl.Select(); err != nil {
		rd.Remove()
		t.Fatal(err)
	}
	return cl, c, rd.Remove
}

// scan fails if any secret, in any encoding, is in a file under dir or in
// one of the texts.
func scan(t *testing.T, secrets map[string][]byte, dir string, texts map[string][]byte) {
	t.Helper()
	for _, f := range findSecrets(t, secrets, dir, texts) {
		t.Error(f)
	}
}

func findSecrets(t *testing.T, secrets map[string][]byte, dir string, texts map[string][]byte) []string {
	t.Helper()
	var found []string
	files := 0
	err := filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		texts[path] = b
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatalf("no file under %s: the scan would prove nothing", dir)
	}
	for what, secret := range secrets {
		for enc, needle := range encodings(secret) {
			for where, text := range texts {
				if bytes.Contains(text, needle) {
					found = append(found, fmt.Sprintf("%s (%s) found in %s", what, enc, where))
				}
			}
		}
	}
	return found
}

// TestScanFindsPlantedSecrets proves the scan can fail.
func TestScanFindsPlantedSecrets(t *testing.T) {
	dir := t.TempDir()
	secret := []byte{0xde, 0xad, 0xbe, 0xef, 0x01, 0x02, 0x03, 0x04}
	for enc, b := range encodings(secret) {
		os.WriteFile(filepath.Join(dir, enc+".log"), append([]byte("prefix "), b...), 0o600)
	}
	found := findSecrets(t, map[string][]byte{"k": secret}, dir, map[string][]byte{"out": []byte("PIN 90817263 typed")})
	for enc := range encodings(secret) {
		hit := false
		for _, f := range found {
			hit = hit || strings.HasSuffix(f, "/"+enc+".log")
		}
		if !hit {
			t.Errorf("the secret planted as %s was not found: %v", enc, found)
		}
	}
	if f := findSecrets(t, map[string][]byte{"pin": []byte("90817263")}, dir, map[string][]byte{"out": []byte("PIN 90817263 typed")}); len(f) == 0 {
		t.Fatal("planted PIN not found in output")
	}
}

func (s *site) scanForSecrets(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	outs := map[string][]byte{"command output": append([]byte(nil), s.outputs.Bytes()...)}
	s.mu.Unlock()
	scan(t, cardSecrets(t, s.cardsDir, testPINs), s.dataDir, outs)
}

// openEngine opens the store and engine in this process.
func (s *site) openEngine(t *testing.T) (*engine.Engine, *kinds.Views, *jetstream.Store) {
	t.Helper()
	ctx := context.Background()
	st, err := jetstream.Open(ctx, jetstream.Config{DataDir: s.dataDir})
	if err != nil {
		t.Fatal(err)
	}
	views := kinds.NewViews()
	eng, err := engine.New(views.EngineConfig(st))
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Open(ctx); err != nil {
		t.Fatal(err)
	}
	return eng, views, st
}

func (s *site) storedTypes(t *testing.T, id string) []string {
	t.Helper()
	eng, _, st := s.openEngine(t)
	defer func() { eng.Close(); st.Close() }()
	recs, err := st.Load(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	var envs []events.Envelope
	for _, r := range recs {
		out = append(out, r.Type)
		envs = append(envs, r.Envelope)
	}
	if err := events.VerifyChain(envs); err != nil {
		t.Fatal(err)
	}
	return out
}

// checkReplay compares the engine's state of a ceremony after Open with a
// replay of its events alone.
func (s *site) checkReplay(t *testing.T, id string) {
	t.Helper()
	eng, _, st := s.openEngine(t)
	defer func() { eng.Close(); st.Close() }()
	live, err := eng.Get(id)
	if err != nil {
		t.Fatal(err)
	}
	replayed, err := eng.Replay(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var a, b any // the state structs of any kind, compared field by field
	live.View(func(x engine.State) { a = reflect.ValueOf(x).Elem().Interface() })
	replayed.View(func(x engine.State) { b = reflect.ValueOf(x).Elem().Interface() })
	if live.Phase() != replayed.Phase() || live.Position() != replayed.Position() || !reflect.DeepEqual(a, b) {
		t.Fatalf("state after restart differs from the replay:\nlive %s %d %+v\nreplay %s %d %+v", live.Phase(), live.Position(), a, replayed.Phase(), replayed.Position(), b)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
