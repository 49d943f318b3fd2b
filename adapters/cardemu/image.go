package cardemu

import (
	"bytes"
	"crypto/ecdh"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"
)

// ErrBadImage is wrapped by every error about the contents of an image file.
var ErrBadImage = errors.New("not a valid card image")

const (
	imageFormat  = "ceremony-card-image"
	imageVersion = 2 // written; version 1 (no decryption key) is still read
	maxImageSize = 1 << 20
)

// image is the JSON form of a card image, version 2. Bytes are hex.
//
//	{
//	  "format": "ceremony-card-image",
//	  "version": 2,
//	  "manufacturer": "FFFE",
//	  "serial": "00000001",
//	  "pw1": "313233343536",
//	  "pw3": "313233343536",
//	  "pw1_tries": 3,
//	  "pw3_tries": 3,
//	  "data_objects": {"0101": "", "5F2D": "656e", ...},
//	  "decryption_key": "",
//	  "terminated": true
//	}
//
// terminated is written only when true (OpenPGP card v3.4 §7.2.16: the
// card answers only SELECT and ACTIVATE FILE); an image without it is an
// operational card, so images written before it existed read unchanged.
// decryption_key is the private scalar of the decryption key (ECDH on NIST
// P-256, OpenPGP card v3.4 §7.2.14), 32 bytes big-endian as SEC 1 §2.3.7
// encodes it, or "" when the card has none. Version 1 is the same without
// decryption_key: such a card has no key.
type image struct {
	Format        string            `json:"format"`
	Version       int               `json:"version"`
	Manufacturer  string            `json:"manufacturer"`
	Serial        string            `json:"serial"`
	PW1           string            `json:"pw1"`
	PW3           string            `json:"pw3"`
	PW1Tries      *int              `json:"pw1_tries"`
	PW3Tries      *int              `json:"pw3_tries"`
	DataObjects   map[string]string `json:"data_objects"`
	DecryptionKey *string           `json:"decryption_key,omitempty"` // version 2 only, always present there
	Terminated    bool              `json:"terminated,omitempty"`
}

func encodeImage(s state) ([]byte, error) {
	var key string
	if s.decKey != nil {
		scalar := s.decKey.Bytes()
		key = hex.EncodeToString(scalar)
		clear(scalar)
	}
	img := image{
		Format:        imageFormat,
		Version:       imageVersion,
		Manufacturer:  fmt.Sprintf("%04X", s.manufacturer),
		Serial:        fmt.Sprintf("%08X", s.serial),
		PW1:           hex.EncodeToString(s.pw1),
		PW3:           hex.EncodeToString(s.pw3),
		PW1Tries:      &s.triesPW1,
		PW3Tries:      &s.triesPW3,
		DataObjects:   map[string]string{},
		DecryptionKey: &key,
		Terminated:    s.terminated,
	}
	for tag, v := range s.dos {
		img.DataObjects[fmt.Sprintf("%04X", tag)] = hex.EncodeToString(v)
	}
	b, err := json.MarshalIndent(img, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode card image: %w", err)
	}
	return append(b, '\n'), nil
}

// decodeImage parses an image strictly: unknown fields, a missing field, a
// format or version mismatch, bad hex, values out of range and trailing
// data are errors wrapping ErrBadImage. Version 1 images are read too; they
// must not hold decryption_key, which version 2 images must hold. The
// messages name fields, never their values (the image holds PINs and a
// private key).
func decodeImage(b []byte) (state, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var img image
	if err := dec.Decode(&img); err != nil {
		return state{}, fmt.Errorf("%w: %s", ErrBadImage, describeJSONError(err))
	}
	if _, err := dec.Token(); err != io.EOF {
		return state{}, fmt.Errorf("%w: data after the JSON object", ErrBadImage)
	}
	if img.Format != imageFormat {
		return state{}, fmt.Errorf("%w: format is %q, want %q", ErrBadImage, img.Format, imageFormat)
	}
	if img.Version != 1 && img.Version != imageVersion {
		return state{}, fmt.Errorf("%w: version %d is not supported (this build reads versions 1 and %d)", ErrBadImage, img.Version, imageVersion)
	}
	var s state
	var err error
	bad := func(format string, args ...any) (state, error) {
		return state{}, fmt.Errorf("%w: %s", ErrBadImage, fmt.Sprintf(format, args...))
	}
	m, err := parseHexUint(img.Manufacturer, 4)
	if err != nil {
		return bad("field manufacturer: %v", err)
	}
	s.manufacturer = uint16(m)
	serial, err := parseHexUint(img.Serial, 8)
	if err != nil {
		return bad("field serial: %v", err)
	}
	s.serial = uint32(serial)
	for _, f := range []struct {
		name  string
		hex   string
		pin   *[]byte
		tries *int
		dst   *int
	}{
		{"pw1", img.PW1, &s.pw1, img.PW1Tries, &s.triesPW1},
		{"pw3", img.PW3, &s.pw3, img.PW3Tries, &s.triesPW3},
	} {
		pin, err := hex.DecodeString(f.hex)
		if err != nil {
			return bad("field %s: not valid hex", f.name)
		}
		if err := checkPINLen("the PIN", pin); err != nil {
			return bad("field %s: %v", f.name, err)
		}
		*f.pin = pin
		if f.tries == nil {
			return bad("field %s_tries is missing", f.name)
		}
		if *f.tries < 0 || *f.tries > maxTries {
			return bad("field %s_tries is %d, must be 0 to %d", f.name, *f.tries, maxTries)
		}
		*f.dst = *f.tries
	}
	if img.DataObjects == nil {
		return bad("field data_objects is missing")
	}
	s.dos = map[uint16][]byte{}
	for tag := range storedDOs {
		s.dos[tag] = []byte{}
	}
	keys := make([]string, 0, len(img.DataObjects))
	for k := range img.DataObjects {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t, err := parseHexUint(k, 4)
		if err != nil {
			return bad("data_objects key %q: %v", k, err)
		}
		tag := uint16(t)
		rule, ok := storedDOs[tag]
		if !ok {
			return bad("data_objects key %q: not a DO this card stores", k)
		}
		v, err := hex.DecodeString(img.DataObjects[k])
		if err != nil {
			return bad("data object %s: not valid hex", k)
		}
		if len(v) > rule.max {
			return bad("data object %s is %d bytes, the maximum is %d", k, len(v), rule.max)
		}
		s.dos[tag] = v
	}
	switch {
	case img.Version == 1 && img.DecryptionKey != nil:
		return bad("field decryption_key is not allowed in version 1")
	case img.Version != 1 && img.DecryptionKey == nil:
		return bad("field decryption_key is missing")
	}
	if img.DecryptionKey != nil && *img.DecryptionKey != "" {
		key, err := decodeDecryptionKey(*img.DecryptionKey)
		if err != nil {
			return bad("field decryption_key: %v", err)
		}
		s.decKey = key
	}
	s.terminated = img.Terminated
	return s, nil
}

// decodeDecryptionKey decodes a P-256 private scalar: 64 hex digits of a
// value from 1 to the group order minus 1. Errors never quote the value.
func decodeDecryptionKey(h string) (*ecdh.PrivateKey, error) {
	scalar, err := hex.DecodeString(h)
	if err != nil {
		return nil, errors.New("not valid hex")
	}
	defer clear(scalar)
	if len(scalar) != 32 {
		return nil, fmt.Errorf("%d bytes, want 32", len(scalar))
	}
	key, err := ecdh.P256().NewPrivateKey(scalar)
	if err != nil {
		return nil, errors.New("not a P-256 private key (zero, or not below the group order)")
	}
	return key, nil
}

// parseHexUint parses exactly digits upper- or lower-case hex digits.
func parseHexUint(s string, digits int) (uint64, error) {
	if len(s) != digits {
		return 0, fmt.Errorf("want %d hex digits, got %d characters", digits, len(s))
	}
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		return 0, errors.New("not valid hex")
	}
	return v, nil
}

// describeJSONError says what is wrong without quoting the file's contents.
func describeJSONError(err error) string {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.EOF):
		return "the file is empty"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the file is truncated"
	case errors.As(err, &syntax):
		return fmt.Sprintf("not valid JSON (at byte %d)", syntax.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong JSON type", typ.Field)
	default:
		return err.Error() // e.g. json: unknown field "x": names a key only
	}
}

// readImageFile reads the card image at path, at most maxImageSize bytes.
// Only a regular file is read: a FIFO, a device or a directory (or a
// symlink to one) is refused before it is opened, as reading one could
// block or never end, and the open itself does not block (O_NONBLOCK).
func readImageFile(path string) ([]byte, error) {
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cardemu: card image %s: %w: not a regular file (%v); give a card image file made by 'ceremony emulated-cards'", path, ErrBadImage, st.Mode().Type())
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cardemu: open card image: %w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err != nil || !st.Mode().IsRegular() {
		return nil, fmt.Errorf("cardemu: card image %s: %w: not a regular file (it changed while being opened)", path, ErrBadImage)
	}
	b, err := io.ReadAll(io.LimitReader(f, maxImageSize+1))
	if err != nil {
		return nil, fmt.Errorf("cardemu: read card image %s: %w", path, err)
	}
	if len(b) > maxImageSize {
		return nil, fmt.Errorf("cardemu: card image %s: %w: larger than %d bytes", path, ErrBadImage, maxImageSize)
	}
	return b, nil
}

// createExclusive writes a new image at path, failing if the file exists.
func createExclusive(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("cardemu: create %s: refusing to overwrite an existing file: %w", path, err)
		}
		return fmt.Errorf("cardemu: create card image: %w", err)
	}
	if err := writeSyncClose(f, b); err != nil {
		os.Remove(path)
		return fmt.Errorf("cardemu: create %s: %w", path, err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return fmt.Errorf("cardemu: create %s: %w", path, err)
	}
	return nil
}

// writeAtomic replaces the image at path: temporary file in the same
// directory, fsync, rename, fsync of the directory.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("cardemu: write %s: %w", path, err)
	}
	tmp := f.Name()
	if err := writeSyncClose(f, b); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cardemu: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("cardemu: write %s: %w", path, err)
	}
	if err := syncDir(dir); err != nil {
		return fmt.Errorf("cardemu: write %s: %w", path, err)
	}
	return nil
}

func writeSyncClose(f *os.File, b []byte) error {
	_, err := f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
