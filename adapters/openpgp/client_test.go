package openpgp

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// exchange is one expected command and the scripted answer.
type exchange struct {
	cmd  []byte // expected command; nil accepts any
	resp []byte
	err  error
}

// script is a Transport that checks each command against a script.
type script struct {
	t     *testing.T
	steps []exchange
	sent  [][]byte // the commands as the client passed them (zeroed afterwards)
}

func (s *script) Transmit(cmd []byte) ([]byte, error) {
	s.t.Helper()
	s.sent = append(s.sent, cmd)
	if len(s.steps) == 0 {
		s.t.Fatalf("unexpected command % X", cmd)
	}
	step := s.steps[0]
	s.steps = s.steps[1:]
	if step.cmd != nil && !bytes.Equal(cmd, step.cmd) {
		s.t.Fatalf("command % X, want % X", cmd, step.cmd)
	}
	return step.resp, step.err
}

func (s *script) done() {
	s.t.Helper()
	if len(s.steps) != 0 {
		s.t.Errorf("%d scripted commands not sent", len(s.steps))
	}
}

var errTransport = errors.New("reader gone")

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func TestClientExchanges(t *testing.T) {
	aid := []byte{0xD2, 0x76, 0x00, 0x01, 0x24, 0x01, 0x03, 0x04, 0xFF, 0xFE, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00}
	c4 := []byte{0x01, 0x7F, 0x7F, 0x7F, 0x02, 0x00, 0x03}
	ok := []byte{0x90, 0x00}
	getC4 := EncodeGetData(0xC4)
	big := bytes.Repeat([]byte{0xAB}, 300)
	pubKey := cat([]byte{0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point)
	sharedX, sharedY := bytes.Repeat([]byte{0x5E}, 32), bytes.Repeat([]byte{0x5F}, 32)

	tests := []struct {
		name    string
		steps   []exchange
		run     func(c *Client) (any, error)
		want    any
		wantErr error
		errText string
	}{
		{"select", []exchange{{EncodeSelect(), ok, nil}},
			func(c *Client) (any, error) { return nil, c.Select() }, nil, nil, ""},
		{"select not found", []exchange{{EncodeSelect(), []byte{0x6A, 0x82}, nil}},
			func(c *Client) (any, error) { return nil, c.Select() }, nil, ErrNotFound, "SELECT OpenPGP application: card answered SW 6A82"},
		{"AID", []exchange{{EncodeGetData(0x4F), cat(aid, ok), nil}},
			func(c *Client) (any, error) { a, err := c.AID(); return a.SerialString(), err }, "FFFE00000007", nil, ""},
		{"AID malformed", []exchange{{EncodeGetData(0x4F), cat(aid[:10], ok), nil}},
			func(c *Client) (any, error) { _, err := c.AID(); return nil, err }, nil, ErrMalformedResponse, "GET DATA 4F"},
		{"AID short response", []exchange{{EncodeGetData(0x4F), []byte{0x90}, nil}},
			func(c *Client) (any, error) { _, err := c.AID(); return nil, err }, nil, ErrMalformedResponse, "GET DATA 4F"},
		{"AID transport error", []exchange{{EncodeGetData(0x4F), nil, errTransport}},
			func(c *Client) (any, error) { _, err := c.AID(); return nil, err }, nil, errTransport, "openpgp: GET DATA 4F: reader gone"},
		{"PW status", []exchange{{getC4, cat(c4, ok), nil}},
			func(c *Client) (any, error) { s, err := c.PWStatus(); return s.TriesPW1, err }, 2, nil, ""},
		{"PW status wrong length", []exchange{{getC4, cat(c4[:6], ok), nil}},
			func(c *Client) (any, error) { _, err := c.PWStatus(); return nil, err }, nil, ErrMalformedResponse, "GET DATA C4"},
		{"retries not verified", []exchange{{[]byte{0, 0x20, 0, 0x83}, []byte{0x63, 0xC2}, nil}},
			func(c *Client) (any, error) { n, v, err := c.RetriesLeft(PW3); return [2]any{n, v}, err }, [2]any{2, false}, nil, ""},
		{"retries verified reads C4", []exchange{{[]byte{0, 0x20, 0, 0x82}, ok, nil}, {getC4, cat(c4, ok), nil}},
			func(c *Client) (any, error) { n, v, err := c.RetriesLeft(PW1); return [2]any{n, v}, err }, [2]any{2, true}, nil, ""},
		{"retries blocked 6983", []exchange{{[]byte{0, 0x20, 0, 0x81}, []byte{0x69, 0x83}, nil}},
			func(c *Client) (any, error) { n, v, err := c.RetriesLeft(PW1Sign); return [2]any{n, v}, err }, [2]any{0, false}, nil, ""},
		{"retries other SW", []exchange{{[]byte{0, 0x20, 0, 0x83}, []byte{0x6D, 0x00}, nil}},
			func(c *Client) (any, error) { _, _, err := c.RetriesLeft(PW3); return nil, err }, nil, ErrUnsupported, "VERIFY PW3 (retry counter query)"},
		{"retries bad ref", nil,
			func(c *Client) (any, error) { _, _, err := c.RetriesLeft(0x10); return nil, err }, nil, ErrInvalidArgument, ""},
		{"verify ok", []exchange{{[]byte{0, 0x20, 0, 0x83, 6, '1', '2', '3', '4', '5', '6'}, ok, nil}},
			func(c *Client) (any, error) { return nil, c.Verify(PW3, []byte("123456")) }, nil, nil, ""},
		{"verify wrong", []exchange{{nil, []byte{0x63, 0xC1}, nil}},
			func(c *Client) (any, error) { return nil, c.Verify(PW3, []byte("999999")) }, nil, ErrWrongPIN, "VERIFY PW3: card answered SW 63C1: wrong PIN for PW3: 1 try left"},
		{"verify blocked", []exchange{{nil, []byte{0x69, 0x83}, nil}},
			func(c *Client) (any, error) { return nil, c.Verify(PW1, []byte("999999")) }, nil, ErrPINBlocked, "VERIFY PW1 (82): card answered SW 6983"},
		{"verify empty refused", nil,
			func(c *Client) (any, error) { return nil, c.Verify(PW1, nil) }, nil, ErrInvalidArgument, "RetriesLeft"},
		{"clear verification", []exchange{{[]byte{0, 0x20, 0xFF, 0x83}, ok, nil}},
			func(c *Client) (any, error) { return nil, c.ClearVerification(PW3) }, nil, nil, ""},
		{"read private DO", []exchange{{EncodeGetData(0x0103), cat([]byte("hi"), ok), nil}},
			func(c *Client) (any, error) { d, err := c.ReadPrivateDO(0x0103); return string(d), err }, "hi", nil, ""},
		{"read private DO denied", []exchange{{EncodeGetData(0x0104), []byte{0x69, 0x82}, nil}},
			func(c *Client) (any, error) { _, err := c.ReadPrivateDO(0x0104); return nil, err }, nil, ErrSecurityStatus, "GET DATA 0104: card answered SW 6982"},
		{"read private DO bad tag", nil,
			func(c *Client) (any, error) { _, err := c.ReadPrivateDO(0x0105); return nil, err }, nil, ErrInvalidArgument, "0105"},
		{"read with 6Cxx", []exchange{
			{EncodeGetData(0x0101), []byte{0x6C, 0x02}, nil},
			{[]byte{0, 0xCA, 0x01, 0x01, 0x02}, cat([]byte("ok"), ok), nil}},
			func(c *Client) (any, error) { d, err := c.ReadPrivateDO(0x0101); return string(d), err }, "ok", nil, ""},
		{"read with 61xx", []exchange{
			{EncodeGetData(0x0102), cat(big[:256], []byte{0x61, 0x2C}), nil},
			{EncodeGetResponse(0x2C), cat(big[256:], ok), nil}},
			func(c *Client) (any, error) { d, err := c.ReadPrivateDO(0x0102); return len(d), err }, 300, nil, ""},
		{"61xx then error", []exchange{
			{EncodeGetData(0x0102), cat(big[:10], []byte{0x61, 0x05}), nil},
			{EncodeGetResponse(0x05), []byte{0x69, 0x85}, nil}},
			func(c *Client) (any, error) { _, err := c.ReadPrivateDO(0x0102); return nil, err }, nil, ErrConditionsNotSatisfied, ""},
		{"61xx transport error", []exchange{
			{EncodeGetData(0x0102), cat(big[:10], []byte{0x61, 0x05}), nil},
			{EncodeGetResponse(0x05), nil, errTransport}},
			func(c *Client) (any, error) { _, err := c.ReadPrivateDO(0x0102); return nil, err }, nil, errTransport, "GET DATA 0102"},
		{"write private DO", []exchange{{[]byte{0, 0xDA, 0x01, 0x04, 3, 'a', 'b', 'c'}, ok, nil}},
			func(c *Client) (any, error) { return nil, c.WritePrivateDO(0x0104, []byte("abc")) }, nil, nil, ""},
		{"write private DO memory failure", []exchange{{nil, []byte{0x65, 0x81}, nil}},
			func(c *Client) (any, error) { return nil, c.WritePrivateDO(0x0101, []byte("abc")) }, nil, ErrMemoryFailure, "PUT DATA 0101"},
		{"write private DO too long", nil,
			func(c *Client) (any, error) { return nil, c.WritePrivateDO(0x0101, big) }, nil, ErrDataTooLong, "300 bytes"},
		{"write bad tag", nil,
			func(c *Client) (any, error) { return nil, c.WritePrivateDO(0x0100, nil) }, nil, ErrInvalidArgument, ""},
		{"change PW1 via 82", []exchange{{[]byte{0, 0x24, 0, 0x81, 12, '1', '2', '3', '4', '5', '6', '6', '5', '4', '3', '2', '1'}, ok, nil}},
			func(c *Client) (any, error) { return nil, c.ChangePIN(PW1, []byte("123456"), []byte("654321")) }, nil, nil, ""},
		{"change PW3 wrong old", []exchange{{nil, []byte{0x63, 0xC2}, nil}},
			func(c *Client) (any, error) { return nil, c.ChangePIN(PW3, []byte("000000"), []byte("654321")) }, nil, ErrWrongPIN, "CHANGE REFERENCE DATA PW3: card answered SW 63C2: wrong PIN for PW3"},
		{"change empty new", nil,
			func(c *Client) (any, error) { return nil, c.ChangePIN(PW3, []byte("123456"), nil) }, nil, ErrInvalidArgument, ""},
		{"generate decryption key", []exchange{{[]byte{0, 0x47, 0x80, 0, 2, 0xB8, 0, 0}, cat(pubKey, ok), nil}},
			func(c *Client) (any, error) { p, err := c.GenerateDecryptionKey(); return string(p), err }, string(p256Point), nil, ""},
		{"generate without PW3", []exchange{{nil, []byte{0x69, 0x82}, nil}},
			func(c *Client) (any, error) { _, err := c.GenerateDecryptionKey(); return nil, err }, nil, ErrSecurityStatus,
			"GENERATE ASYMMETRIC KEY PAIR B8 (decryption key): card answered SW 6982"},
		{"generate answers RSA", []exchange{{nil, cat([]byte{0x7F, 0x49, 0x03, 0x81, 0x01, 0xC1}, ok), nil}},
			func(c *Client) (any, error) { _, err := c.GenerateDecryptionKey(); return nil, err }, nil, ErrMalformedResponse,
			"GENERATE ASYMMETRIC KEY PAIR B8 (decryption key): malformed response from the card: public key template (7F49): holds an RSA key (tag 81), not an EC point (86)"},
		{"generate memory failure", []exchange{{nil, []byte{0x65, 0x81}, nil}},
			func(c *Client) (any, error) { _, err := c.GenerateDecryptionKey(); return nil, err }, nil, ErrMemoryFailure, ""},
		{"read public key", []exchange{{[]byte{0, 0x47, 0x81, 0, 2, 0xB8, 0, 0}, cat(pubKey, ok), nil}},
			func(c *Client) (any, error) { p, err := c.DecryptionPublicKey(); return string(p), err }, string(p256Point), nil, ""},
		{"read public key via 6Cxx", []exchange{
			{[]byte{0, 0x47, 0x81, 0, 2, 0xB8, 0, 0}, []byte{0x6C, 0x46}, nil},
			{[]byte{0, 0x47, 0x81, 0, 2, 0xB8, 0, 0x46}, cat(pubKey, ok), nil}},
			func(c *Client) (any, error) { p, err := c.DecryptionPublicKey(); return string(p), err }, string(p256Point), nil, ""},
		{"read public key none", []exchange{{nil, []byte{0x6A, 0x88}, nil}},
			func(c *Client) (any, error) { _, err := c.DecryptionPublicKey(); return nil, err }, nil, ErrNotFound,
			"READ PUBLIC KEY B8 (decryption key): card answered SW 6A88"},
		{"read public key trailing byte", []exchange{{nil, cat(pubKey, []byte{0x00}, ok), nil}},
			func(c *Client) (any, error) { _, err := c.DecryptionPublicKey(); return nil, err }, nil, ErrMalformedResponse, "after tag 7F49"},
		{"decipher", []exchange{{cat([]byte{0, 0x2A, 0x80, 0x86, 0x48, 0xA6, 0x46, 0x7F, 0x49, 0x43, 0x86, 0x41}, p256Point, []byte{0}), cat(sharedX, ok), nil}},
			func(c *Client) (any, error) { x, err := c.DecipherECDH(p256Point); return string(x), err }, string(sharedX), nil, ""},
		{"decipher answers the whole point", []exchange{{nil, cat([]byte{0x04}, sharedX, sharedY, ok), nil}},
			func(c *Client) (any, error) { x, err := c.DecipherECDH(p256Point); return string(x), err }, string(sharedX), nil, ""},
		{"decipher without PW1", []exchange{{nil, []byte{0x69, 0x82}, nil}},
			func(c *Client) (any, error) { _, err := c.DecipherECDH(p256Point); return nil, err }, nil, ErrSecurityStatus, "PSO:DECIPHER (ECDH): card answered SW 6982"},
		{"decipher bad point", []exchange{{nil, []byte{0x6A, 0x80}, nil}},
			func(c *Client) (any, error) { _, err := c.DecipherECDH(p256Point); return nil, err }, nil, ErrBadData, "PSO:DECIPHER (ECDH): card answered SW 6A80"},
		{"decipher no key", []exchange{{nil, []byte{0x6A, 0x88}, nil}},
			func(c *Client) (any, error) { _, err := c.DecipherECDH(p256Point); return nil, err }, nil, ErrNotFound, ""},
		{"decipher empty answer", []exchange{{nil, ok, nil}},
			func(c *Client) (any, error) { _, err := c.DecipherECDH(p256Point); return nil, err }, nil, ErrMalformedResponse, "no shared secret"},
		{"decipher empty point", nil,
			func(c *Client) (any, error) { _, err := c.DecipherECDH(nil); return nil, err }, nil, ErrInvalidArgument, "empty public key point"},
		{"decipher point too long", nil,
			func(c *Client) (any, error) { _, err := c.DecipherECDH(big); return nil, err }, nil, ErrDataTooLong, "300 bytes"},
		{"decipher transport error", []exchange{{nil, nil, errTransport}},
			func(c *Client) (any, error) { _, err := c.DecipherECDH(p256Point); return nil, err }, nil, errTransport, "PSO:DECIPHER (ECDH): reader gone"},
		{"terminated", []exchange{{EncodeSelect(), []byte{0x62, 0x85}, nil}},
			func(c *Client) (any, error) { return nil, c.Select() }, nil, ErrTerminated, "6285"},
		{"unknown SW", []exchange{{EncodeSelect(), []byte{0x6F, 0x00}, nil}},
			func(c *Client) (any, error) { return nil, c.Select() }, nil, nil, "unexpected SW 6F00"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &script{t: t, steps: tt.steps}
			got, err := tt.run(NewClient(s))
			s.done()
			switch {
			case tt.wantErr == nil && tt.errText == "":
				if err != nil {
					t.Fatalf("unexpected error %v", err)
				}
				if tt.want != nil && got != tt.want {
					t.Errorf("got %v, want %v", got, tt.want)
				}
			default:
				if err == nil {
					t.Fatal("no error")
				}
				if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
					t.Errorf("error %v is not %v", err, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.errText) {
					t.Errorf("error %q lacks %q", err, tt.errText)
				}
				for _, secret := range []string{"123456", "999999", "000000", "654321", "abc", "5E5E5E5E", "^^^^", "5e5e5e5e"} {
					if strings.Contains(err.Error(), secret) {
						t.Errorf("error %q leaks %q", err, secret)
					}
				}
			}
			for _, cmd := range s.sent {
				if !bytes.Equal(cmd, make([]byte, len(cmd))) {
					t.Errorf("command not zeroed after sending: % X", cmd)
				}
			}
		})
	}
}

// endless answers 61xx forever.
type endless struct{ n int }

func (e *endless) Transmit([]byte) ([]byte, error) { e.n++; return []byte{0xAA, 0x61, 0x01}, nil }

func TestClientGetResponseBounded(t *testing.T) {
	e := &endless{}
	_, err := NewClient(e).ReadPrivateDO(0x0101)
	if !errors.Is(err, ErrMalformedResponse) {
		t.Fatalf("error = %v, want ErrMalformedResponse", err)
	}
	if e.n != maxGetResponse+1 {
		t.Errorf("sent %d commands, want %d", e.n, maxGetResponse+1)
	}
}
