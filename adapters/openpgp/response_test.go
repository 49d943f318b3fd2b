package openpgp

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseResponse(t *testing.T) {
	tests := []struct {
		name     string
		resp     []byte
		wantData []byte
		wantSW   uint16
		wantErr  bool
	}{
		{"nil", nil, nil, 0, true},
		{"one byte", []byte{0x90}, nil, 0, true},
		{"status only", []byte{0x90, 0x00}, []byte{}, 0x9000, false},
		{"data", []byte{1, 2, 3, 0x61, 0x10}, []byte{1, 2, 3}, 0x6110, false},
		{"wrong PIN", []byte{0x63, 0xC2}, []byte{}, 0x63C2, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data, sw, err := ParseResponse(tt.resp)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedResponse) {
					t.Errorf("error %v does not wrap ErrMalformedResponse", err)
				}
				return
			}
			if !bytes.Equal(data, tt.wantData) || sw != tt.wantSW {
				t.Errorf("got % X %04X, want % X %04X", data, sw, tt.wantData, tt.wantSW)
			}
		})
	}
}

func TestParseAID(t *testing.T) {
	good := []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}
	otherApp := append([]byte(nil), good...)
	otherApp[5] = 0x02
	tests := []struct {
		name       string
		in         []byte
		wantSerial string
		wantErr    bool
	}{
		{"good", good, "FFFE00000001", false},
		{"big serial", append(append([]byte(nil), good[:8]...), 0x00, 0x06, 0x12, 0x34, 0x56, 0x78, 0, 0), "000612345678", false},
		{"short", good[:15], "", true},
		{"long", append(append([]byte(nil), good...), 0), "", true},
		{"empty", nil, "", true},
		{"other application", otherApp, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			aid, err := ParseAID(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil {
				if !errors.Is(err, ErrMalformedResponse) {
					t.Errorf("error %v does not wrap ErrMalformedResponse", err)
				}
				return
			}
			if got := aid.SerialString(); got != tt.wantSerial {
				t.Errorf("serial %q, want %q", got, tt.wantSerial)
			}
			if aid.Version != 0x0304 || !bytes.Equal(aid.Raw[:], tt.in) {
				t.Errorf("version %04X raw % X", aid.Version, aid.Raw)
			}
		})
	}
}

func TestParsePWStatus(t *testing.T) {
	tests := []struct {
		name    string
		in      []byte
		want    PWStatus
		wantErr bool
	}{
		{"default", []byte{0x01, 0x7F, 0x7F, 0x7F, 0x03, 0x00, 0x03},
			PWStatus{PW1MultiUse: true, MaxLenPW1: 127, MaxLenRC: 127, MaxLenPW3: 127, TriesPW1: 3, TriesRC: 0, TriesPW3: 3}, false},
		{"single use, PIN block 2 bit", []byte{0x00, 0x88, 0x20, 0x08, 0x00, 0x01, 0x02},
			PWStatus{PW1MultiUse: false, MaxLenPW1: 8, MaxLenRC: 32, MaxLenPW3: 8, TriesPW1: 0, TriesRC: 1, TriesPW3: 2}, false},
		{"short", []byte{1, 2, 3, 4, 5, 6}, PWStatus{}, true},
		{"long", []byte{1, 2, 3, 4, 5, 6, 7, 8}, PWStatus{}, true},
		{"empty", nil, PWStatus{}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePWStatus(tt.in)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if err != nil && !errors.Is(err, ErrMalformedResponse) {
				t.Errorf("error %v does not wrap ErrMalformedResponse", err)
			}
			if got != tt.want {
				t.Errorf("got %+v, want %+v", got, tt.want)
			}
		})
	}
}
