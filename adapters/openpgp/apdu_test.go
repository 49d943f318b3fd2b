package openpgp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func TestEncoders(t *testing.T) {
	long := bytes.Repeat([]byte{'x'}, 256)
	max := bytes.Repeat([]byte{'y'}, 255)
	tests := []struct {
		name    string
		encode  func() ([]byte, error)
		want    []byte
		wantErr error
	}{
		{"select", func() ([]byte, error) { return EncodeSelect(), nil },
			[]byte{0x00, 0xA4, 0x04, 0x00, 0x06, 0xD2, 0x76, 0x00, 0x01, 0x24, 0x01}, nil},
		{"get data 4F", func() ([]byte, error) { return EncodeGetData(0x4F), nil },
			[]byte{0x00, 0xCA, 0x00, 0x4F, 0x00}, nil},
		{"get data C4", func() ([]byte, error) { return EncodeGetData(0xC4), nil },
			[]byte{0x00, 0xCA, 0x00, 0xC4, 0x00}, nil},
		{"get data 0104", func() ([]byte, error) { return EncodeGetData(0x0104), nil },
			[]byte{0x00, 0xCA, 0x01, 0x04, 0x00}, nil},
		{"get data 5F52", func() ([]byte, error) { return EncodeGetData(0x5F52), nil },
			[]byte{0x00, 0xCA, 0x5F, 0x52, 0x00}, nil},
		{"put data 0101", func() ([]byte, error) { return EncodePutData(0x0101, []byte{1, 2, 3}) },
			[]byte{0x00, 0xDA, 0x01, 0x01, 0x03, 1, 2, 3}, nil},
		{"put data empty", func() ([]byte, error) { return EncodePutData(0x0102, nil) },
			[]byte{0x00, 0xDA, 0x01, 0x02}, nil},
		{"put data 255 bytes", func() ([]byte, error) { return EncodePutData(0x0103, max) },
			append([]byte{0x00, 0xDA, 0x01, 0x03, 0xFF}, max...), nil},
		{"put data 256 bytes", func() ([]byte, error) { return EncodePutData(0x0103, long) }, nil, ErrDataTooLong},
		{"verify PW1", func() ([]byte, error) { return EncodeVerify(PW1, []byte("123456")) },
			[]byte{0x00, 0x20, 0x00, 0x82, 0x06, '1', '2', '3', '4', '5', '6'}, nil},
		{"verify PW1 sign", func() ([]byte, error) { return EncodeVerify(PW1Sign, []byte("123456")) },
			[]byte{0x00, 0x20, 0x00, 0x81, 0x06, '1', '2', '3', '4', '5', '6'}, nil},
		{"verify PW3", func() ([]byte, error) { return EncodeVerify(PW3, []byte("12345678")) },
			[]byte{0x00, 0x20, 0x00, 0x83, 0x08, '1', '2', '3', '4', '5', '6', '7', '8'}, nil},
		{"verify status query", func() ([]byte, error) { return EncodeVerify(PW3, nil) },
			[]byte{0x00, 0x20, 0x00, 0x83}, nil},
		{"verify bad ref", func() ([]byte, error) { return EncodeVerify(0x84, []byte("1")) }, nil, ErrInvalidArgument},
		{"verify too long", func() ([]byte, error) { return EncodeVerify(PW3, long) }, nil, ErrDataTooLong},
		{"clear PW1", func() ([]byte, error) { return EncodeClearVerification(PW1) },
			[]byte{0x00, 0x20, 0xFF, 0x82}, nil},
		{"clear bad ref", func() ([]byte, error) { return EncodeClearVerification(0) }, nil, ErrInvalidArgument},
		{"change PW1", func() ([]byte, error) { return EncodeChangeReferenceData(PW1Sign, []byte("123456"), []byte("654321")) },
			[]byte{0x00, 0x24, 0x00, 0x81, 0x0C, '1', '2', '3', '4', '5', '6', '6', '5', '4', '3', '2', '1'}, nil},
		{"change PW3", func() ([]byte, error) { return EncodeChangeReferenceData(PW3, []byte("ab"), []byte("cd")) },
			[]byte{0x00, 0x24, 0x00, 0x83, 0x04, 'a', 'b', 'c', 'd'}, nil},
		{"change ref 82 refused", func() ([]byte, error) { return EncodeChangeReferenceData(PW1, []byte("a"), []byte("b")) }, nil, ErrInvalidArgument},
		{"change too long", func() ([]byte, error) { return EncodeChangeReferenceData(PW3, max, []byte("1")) }, nil, ErrDataTooLong},
		{"get response", func() ([]byte, error) { return EncodeGetResponse(0x10), nil },
			[]byte{0x00, 0xC0, 0x00, 0x00, 0x10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.encode()
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("error = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "xxxx") || strings.Contains(err.Error(), "yyyy") {
					t.Errorf("error leaks data: %v", err)
				}
				return
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got  % X\nwant % X", got, tt.want)
			}
		})
	}
}

func TestWithLe(t *testing.T) {
	tests := []struct {
		name    string
		cmd     []byte
		le      byte
		want    []byte
		wantErr bool
	}{
		{"case 1", []byte{0, 0xCA, 0, 0x4F}, 0x10, []byte{0, 0xCA, 0, 0x4F, 0x10}, false},
		{"case 2", []byte{0, 0xCA, 0, 0x4F, 0x00}, 0x10, []byte{0, 0xCA, 0, 0x4F, 0x10}, false},
		{"case 3", []byte{0, 0xDA, 1, 1, 2, 9, 9}, 0x05, []byte{0, 0xDA, 1, 1, 2, 9, 9, 5}, false},
		{"case 4", []byte{0, 0xDA, 1, 1, 2, 9, 9, 0}, 0x05, []byte{0, 0xDA, 1, 1, 2, 9, 9, 5}, false},
		{"too short", []byte{0, 0xCA, 0}, 0x05, nil, true},
		{"Lc mismatch", []byte{0, 0xDA, 1, 1, 5, 9}, 0x05, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := append([]byte(nil), tt.cmd...)
			got, err := withLe(tt.cmd, tt.le)
			if (err != nil) != tt.wantErr {
				t.Fatalf("error = %v, wantErr %v", err, tt.wantErr)
			}
			if !bytes.Equal(got, tt.want) {
				t.Errorf("got % X, want % X", got, tt.want)
			}
			if !bytes.Equal(tt.cmd, orig) {
				t.Errorf("input modified: % X", tt.cmd)
			}
		})
	}
}

func TestPINRefString(t *testing.T) {
	for ref, want := range map[PINRef]string{PW1Sign: "PW1 (81)", PW1: "PW1 (82)", PW3: "PW3", 0x99: "PIN reference 99"} {
		if got := ref.String(); got != want {
			t.Errorf("%02X: got %q, want %q", byte(ref), got, want)
		}
	}
}
