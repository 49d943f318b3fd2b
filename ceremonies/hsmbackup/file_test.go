package hsmbackup

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func sample() *File {
	f := &File{Format: fileFormat, Version: fileVersion, Created: time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC), Ceremony: "backup-1", HSM: "pkcs11:token=a", BackupKeyKCV: "CE03DC", Mechanism: Mechanism}
	f.Keys = append(f.Keys,
		entryOf(KeyInfo{Label: "signing", ID: []byte{1, 2}, Class: "private", KeyType: "EC", ECParams: []byte{6, 8, 42}, ECPoint: []byte{4, 1}}, []byte("wrapped-1")),
		entryOf(KeyInfo{Label: "data", ID: []byte{3}, Class: "secret", KeyType: "AES", ValueLen: 32}, []byte("wrapped-2")))
	return f
}

func TestFileRoundTrip(t *testing.T) {
	b, err := sample().Encode()
	if err != nil {
		t.Fatal(err)
	}
	f, err := DecodeFile(b)
	if err != nil {
		t.Fatal(err)
	}
	k, w, err := f.Keys[0].Key()
	if err != nil || k.Label != "signing" || string(w) != "wrapped-1" || k.KeyType != "EC" || len(k.ECPoint) != 2 {
		t.Fatalf("entry 1: %+v %q %v", k, w, err)
	}
}

func TestDecodeFileRefusals(t *testing.T) {
	good, _ := sample().Encode()
	mut := func(from, to string) []byte { return []byte(strings.Replace(string(good), from, to, 1)) }
	cases := map[string]struct {
		in  []byte
		say string
	}{
		"truncated":       {good[:len(good)/2], "truncated"},
		"empty":           {nil, "truncated"},
		"unknown field":   {mut(`"hsm":`, `"extra": 1, "hsm":`), "unknown field"},
		"other format":    {mut(fileFormat, "zip"), "format"},
		"future version":  {mut(`"version": 1`, `"version": 2`), "version 2"},
		"other mechanism": {mut(Mechanism, "CKM_DES3_ECB"), "mechanism"},
		"bad kcv":         {mut(`"CE03DC"`, `"CE03"`), "KCV"},
		"bad hex id":      {mut(`"id": "0102"`, `"id": "zz"`), "not hex"},
		"bad wrapped":     {mut(`"wrapped": "`, `"wrapped": "!!`), "base64"},
		"bad class":       {mut(`"class": "secret"`, `"class": "public"`), "class"},
		"duplicate":       {[]byte(strings.Replace(strings.Replace(string(good), `"id": "03"`, `"id": "0102"`, 1), `"class": "secret"`, `"class": "private"`, 1)), "a second private key"},
		"trailing data":   {append(append([]byte(nil), good...), []byte("{}")...), "after"},
	}
	for name, tc := range cases {
		_, err := DecodeFile(tc.in)
		if !errors.Is(err, ErrBadFile) || !strings.Contains(err.Error(), tc.say) {
			t.Errorf("%s: %v (want ErrBadFile saying %q)", name, err, tc.say)
		}
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	p := filepath.Join(t.TempDir(), "b.json")
	if err := writeNew(p, []byte("one")); err != nil {
		t.Fatal(err)
	}
	if err := writeNew(p, []byte("two")); err == nil || !strings.Contains(err.Error(), "never overwritten") {
		t.Fatalf("second write: %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "one" {
		t.Fatalf("file now holds %q", b)
	}
}

func FuzzDecodeFile(f *testing.F) {
	good, _ := sample().Encode()
	f.Add(good)
	f.Add(good[:40])
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := DecodeFile(in)
		if err != nil {
			return
		}
		for _, e := range file.Keys {
			if _, _, err := e.Key(); err != nil {
				t.Fatalf("a decoded file has an entry that does not decode: %v", err)
			}
		}
	})
}
