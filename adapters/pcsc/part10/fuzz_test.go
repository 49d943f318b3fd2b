package part10

import (
	"encoding/binary"
	"testing"
)

func FuzzParseFeatures(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x06, 0x04, 0x42, 0x33, 0x00, 0x06, 0x07, 0x04, 0x42, 0x33, 0x00, 0x07,
		0x0A, 0x04, 0x42, 0x33, 0x00, 0x0A, 0x12, 0x04, 0x42, 0x33, 0x00, 0x12})
	f.Add([]byte{0x06, 0x04, 0x42, 0x00, 0x0D, 0xB2, 0x20, 0x04, 0x42, 0x00, 0x0D, 0xCC})
	f.Add([]byte{0x06, 0x02, 0x42, 0x33, 0x00, 0x06})
	f.Add([]byte{0x06, 0x04, 0x42, 0x33, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		feats, err := ParseFeatures(b)
		if err != nil {
			if feats.Len() != 0 {
				t.Fatalf("error %v with %d features", err, feats.Len())
			}
			return
		}
		if len(b)%6 != 0 || feats.Len() != len(b)/6 || len(feats.Tags()) != feats.Len() {
			t.Fatalf("%d bytes gave %d features", len(b), feats.Len())
		}
		for i := 0; i < len(b); i += 6 {
			if b[i+1] != 4 {
				t.Fatalf("accepted length byte %d", b[i+1])
			}
			c, ok := feats.Control(Feature(b[i]))
			if !ok || c != binary.BigEndian.Uint32(b[i+2:i+6]) {
				t.Fatalf("record %d: %#x %v", i/6, c, ok)
			}
		}
	})
}

func FuzzParseTLVProperties(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x02, 0x00, 0x00, 0x03, 0x01, 0x00, 0x09, 0x01, 0x00,
		0x0B, 0x02, 0xE6, 0x08, 0x0C, 0x02, 0x34, 0x34, 0x0A, 0x04, 0x00, 0x00, 0x01, 0x00})
	f.Add([]byte{0x08, 0x05, 'V', '1', '.', '0', '0', 0x42, 0x00})
	f.Add([]byte{0x06, 0x01, 0x04, 0x07, 0x01, 0x08})
	f.Add([]byte{0x01, 0x02, 0x10})
	f.Add([]byte{0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := ParseTLVProperties(b)
		if err != nil {
			return
		}
		// Walk the records independently and check what was kept.
		unknown := 0
		for off := 0; off < len(b); {
			if len(b)-off < 2 || len(b)-off-2 < int(b[off+1]) {
				t.Fatalf("accepted a truncated record at %d", off)
			}
			tag, l := Property(b[off]), int(b[off+1])
			if _, known := properties[tag]; known {
				if !p.Has(tag) {
					t.Fatalf("tag %v not reported", tag)
				}
			} else {
				if p.Has(tag) {
					t.Fatalf("Has(%v) for an unknown tag", tag)
				}
				if p.Unknown[unknown].Tag != byte(tag) || len(p.Unknown[unknown].Value) != l {
					t.Fatalf("unknown record %d: %+v", unknown, p.Unknown[unknown])
				}
				unknown++
			}
			off += 2 + l
		}
		if unknown != len(p.Unknown) {
			t.Fatalf("%d unknown records, kept %d", unknown, len(p.Unknown))
		}
		_ = p.LcdLayout.String()
	})
}
