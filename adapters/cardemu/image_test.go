package cardemu

import (
	"bytes"
	"crypto/ecdh"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCreate(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "card.json")
	c, err := Create(path, Options{Serial: 0x01020304})
	if err != nil {
		t.Fatal(err)
	}
	if c.Path() != path || c.Serial() != "FFFE01020304" {
		t.Errorf("path %q serial %q", c.Path(), c.Serial())
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("image mode %v, want 0600", fi.Mode().Perm())
	}
	var img map[string]any
	b, _ := os.ReadFile(path)
	if err := json.Unmarshal(b, &img); err != nil {
		t.Fatal(err)
	}
	if img["format"] != "ceremony-card-image" || img["version"] != 2.0 || img["decryption_key"] != "" || img["pw1"] != "313233343536" || img["pw3"] != "313233343536" {
		t.Errorf("image %v", img)
	}

	_, err = Create(path, Options{})
	if !errors.Is(err, fs.ErrExist) || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("second Create: %v", err)
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(after, b) {
		t.Error("second Create changed the image")
	}

	for _, opts := range []Options{{PW1: []byte("ab3d5")}, {PW3: []byte("zq")}, {PW1: bytes.Repeat([]byte("w"), 128)}} {
		p := filepath.Join(dir, "bad.json")
		if _, err := Create(p, opts); err == nil || strings.Contains(err.Error(), string(opts.PW1)+string(opts.PW3)) {
			t.Errorf("Create with a bad PIN: %v", err)
		}
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("Create with a bad PIN left a file")
		}
	}
	if _, err := Create(filepath.Join(dir, "no", "such", "dir.json"), Options{}); err == nil {
		t.Error("Create in a missing directory succeeded")
	}
}

func TestWritesLeaveNoTemporaryFiles(t *testing.T) {
	e := newEnv(t, Options{})
	mustSW(t, e.card, selectCmd, 0x9000)
	mustSW(t, e.card, pinAPDU("00 20 00 83", "123456"), 0x9000)
	mustSW(t, e.card, "00 DA 01 04 01 01", 0x9000)
	entries, err := os.ReadDir(filepath.Dir(e.card.Path()))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		t.Errorf("directory holds %d entries, want only the image", len(entries))
	}
}

func TestOpenRefusesBadImages(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{
			"format": "ceremony-card-image", "version": 1,
			"manufacturer": "FFFE", "serial": "00000001",
			"pw1": "313233343536", "pw3": "313233343536",
			"pw1_tries": 3, "pw3_tries": 3,
			"data_objects": map[string]string{"0101": "", "0104": "414243"},
		}
	}
	with := func(key string, v any) []byte {
		m := good()
		if v == nil {
			delete(m, key)
		} else {
			m[key] = v
		}
		b, _ := json.Marshal(m)
		return b
	}
	goodBytes := with("format", "ceremony-card-image")
	tests := []struct {
		name string
		data []byte
		msg  string
	}{
		{"empty", nil, "empty"},
		{"truncated", goodBytes[:len(goodBytes)/2], "truncated"},
		{"not JSON", []byte("PK\x03\x04 zip"), "not valid JSON"},
		{"trailing data", append(append([]byte(nil), goodBytes...), []byte(`{}`)...), "data after"},
		{"unknown field", with("extra", true), `unknown field "extra"`},
		{"wrong format", with("format", "something-else"), "format"},
		{"missing format", with("format", nil), "format"},
		{"version 3", with("version", 3), "version 3 is not supported"},
		{"version 2 without a key field", with("version", 2), "decryption_key is missing"},
		{"version 1 with a key field", with("decryption_key", ""), "decryption_key is not allowed in version 1"},
		{"missing version", with("version", nil), "version 0"},
		{"version as string", with("version", "1"), `"version" has the wrong JSON type`},
		{"manufacturer too short", with("manufacturer", "FFE"), "manufacturer"},
		{"manufacturer not hex", with("manufacturer", "FFFG"), "manufacturer"},
		{"serial too long", with("serial", "000000001"), "serial"},
		{"PIN not hex", with("pw1", "31323334353G"), "pw1: not valid hex"},
		{"PIN too short", with("pw3", "3132"), "pw3"},
		{"missing PIN", with("pw1", nil), "pw1"},
		{"missing tries", with("pw3_tries", nil), "pw3_tries is missing"},
		{"tries too high", with("pw1_tries", 4), "pw1_tries is 4"},
		{"tries negative", with("pw1_tries", -1), "pw1_tries"},
		{"missing data objects", with("data_objects", nil), "data_objects is missing"},
		{"unknown DO", with("data_objects", map[string]string{"00C4": ""}), "not a DO this card stores"},
		{"bad DO key", with("data_objects", map[string]string{"101": ""}), "data_objects key"},
		{"DO not hex", with("data_objects", map[string]string{"0101": "zz"}), "not valid hex"},
		{"DO too long", with("data_objects", map[string]string{"0101": strings.Repeat("00", 256)}), "256 bytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "card.json")
			if err := os.WriteFile(path, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			if !errors.Is(err, ErrBadImage) {
				t.Fatalf("error %v does not wrap ErrBadImage", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, path) || !strings.Contains(msg, tt.msg) {
				t.Errorf("error %q lacks the path or %q", msg, tt.msg)
			}
			for _, secret := range []string{"313233343536", "123456", "414243", "ABC"} {
				if strings.Contains(msg, secret) {
					t.Errorf("error %q leaks %q", msg, secret)
				}
			}
		})
	}

	t.Run("good image", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "card.json")
		if err := os.WriteFile(path, goodBytes, 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.st.dos[0x0104]) != "ABC" || len(c.st.dos) != len(storedDOs) {
			t.Errorf("DOs %v", c.st.dos)
		}
	})
	t.Run("missing file", func(t *testing.T) {
		_, err := Open(filepath.Join(t.TempDir(), "none.json"))
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "none.json") {
			t.Errorf("missing file: %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "card.json")
		if err := os.WriteFile(path, bytes.Repeat([]byte(" "), maxImageSize+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Open(path); !errors.Is(err, ErrBadImage) {
			t.Errorf("large file: %v", err)
		}
	})
}

func TestImageRoundTrip(t *testing.T) {
	st, err := Options{Manufacturer: 0x1234, Serial: 0xCAFEBABE, PW1: []byte("user-pin"), PW3: []byte("admin-pin-9")}.initialState()
	if err != nil {
		t.Fatal(err)
	}
	st.triesPW1 = 1
	st.dos[0x0103] = []byte{0, 1, 2}
	st.dos[0x7F21] = bytes.Repeat([]byte{0xEE}, 2048)
	for _, withKey := range []bool{false, true} {
		if withKey {
			if st.decKey, err = ecdh.P256().GenerateKey(rand.Reader); err != nil {
				t.Fatal(err)
			}
		}
		b, err := encodeImage(st)
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeImage(b)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := encodeImage(got)
		if !bytes.Equal(b, again) {
			t.Errorf("round trip differs:\n%s\n%s", b, again)
		}
		if (got.decKey == nil) == withKey || (withKey && !got.decKey.Equal(st.decKey)) {
			t.Errorf("key with %v: decoded %v", withKey, got.decKey)
		}
	}
}
