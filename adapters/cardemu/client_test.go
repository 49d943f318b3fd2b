package cardemu

import (
	"bytes"
	"errors"
	"testing"

	"github.com/ceremony-hsm/ceremony/adapters/openpgp"
)

// step is one call on the client (or the card) and what it must give.
type step struct {
	name    string
	do      func(e *env) (any, error)
	want    any // compared with == when not nil
	wantErr error
}

func verify(ref openpgp.PINRef, pin string) func(e *env) (any, error) {
	return func(e *env) (any, error) { return nil, e.client.Verify(ref, []byte(pin)) }
}

func retries(ref openpgp.PINRef) func(e *env) (any, error) {
	return func(e *env) (any, error) {
		n, v, err := e.client.RetriesLeft(ref)
		return [2]any{n, v}, err
	}
}

func read(tag uint16) func(e *env) (any, error) {
	return func(e *env) (any, error) { d, err := e.client.ReadPrivateDO(tag); return string(d), err }
}

func write(tag uint16, data string) func(e *env) (any, error) {
	return func(e *env) (any, error) { return nil, e.client.WritePrivateDO(tag, []byte(data)) }
}

func change(ref openpgp.PINRef, old, new string) func(e *env) (any, error) {
	return func(e *env) (any, error) { return nil, e.client.ChangePIN(ref, []byte(old), []byte(new)) }
}

func selectApp(e *env) (any, error) { return nil, e.client.Select() }

func tries(n int, verified bool) [2]any { return [2]any{n, verified} }

func TestClientAgainstCard(t *testing.T) {
	tests := []struct {
		name  string
		opts  Options
		steps []step
	}{
		{"identify", Options{Serial: 0x2A}, []step{
			{"select", selectApp, nil, nil},
			{"AID", func(e *env) (any, error) { a, err := e.client.AID(); return a.SerialString(), err }, "FFFE0000002A", nil},
			{"AID version", func(e *env) (any, error) { a, err := e.client.AID(); return a.Version, err }, uint16(0x0304), nil},
			{"card serial", func(e *env) (any, error) { return e.card.Serial(), nil }, "FFFE0000002A", nil},
			{"PW status", func(e *env) (any, error) { return e.client.PWStatus() },
				openpgp.PWStatus{PW1MultiUse: true, MaxLenPW1: 127, MaxLenRC: 127, MaxLenPW3: 127, TriesPW1: 3, TriesRC: 0, TriesPW3: 3}, nil},
		}},
		{"manufacturer option", Options{Manufacturer: 0xFF01, Serial: 0xDEADBEEF}, []step{
			{"select", selectApp, nil, nil},
			{"AID", func(e *env) (any, error) { a, err := e.client.AID(); return a.SerialString(), err }, "FF01DEADBEEF", nil},
		}},
		{"not selected", Options{}, []step{
			{"get data before select", func(e *env) (any, error) { return e.client.PWStatus() }, nil, openpgp.ErrConditionsNotSatisfied},
			{"verify before select", verify(openpgp.PW3, "123456"), nil, openpgp.ErrConditionsNotSatisfied},
			{"select", selectApp, nil, nil},
			{"no try was spent", retries(openpgp.PW3), tries(3, false), nil},
		}},
		{"wrong PW3 to blocked", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"wrong 1", verify(openpgp.PW3, "000000"), nil, openpgp.ErrWrongPIN},
			{"query", retries(openpgp.PW3), tries(2, false), nil},
			{"query again spends nothing", retries(openpgp.PW3), tries(2, false), nil},
			{"wrong 2", verify(openpgp.PW3, "000000"), nil, openpgp.ErrWrongPIN},
			{"query", retries(openpgp.PW3), tries(1, false), nil},
			{"wrong 3 blocks", verify(openpgp.PW3, "000000"), nil, openpgp.ErrPINBlocked},
			{"query blocked", retries(openpgp.PW3), tries(0, false), nil},
			{"right PIN refused", verify(openpgp.PW3, "123456"), nil, openpgp.ErrPINBlocked},
			{"C4 shows 0", func(e *env) (any, error) { s, err := e.client.PWStatus(); return s.TriesPW3, err }, 0, nil},
			{"PW1 unaffected", retries(openpgp.PW1), tries(3, false), nil},
			{"admin DO refused", read(0x0104), nil, openpgp.ErrSecurityStatus},
		}},
		{"wrong PIN error details", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"wrong", func(e *env) (any, error) {
				err := e.client.Verify(openpgp.PW1, []byte("000000"))
				var wp *openpgp.WrongPINError
				if !errors.As(err, &wp) {
					return nil, err
				}
				return *wp, nil
			}, openpgp.WrongPINError{Ref: openpgp.PW1, TriesLeft: 2}, nil},
		}},
		{"correct PIN restores the counter", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"wrong 1", verify(openpgp.PW1, "000000"), nil, openpgp.ErrWrongPIN},
			{"wrong 2", verify(openpgp.PW1, "000000"), nil, openpgp.ErrWrongPIN},
			{"right", verify(openpgp.PW1, "123456"), nil, nil},
			{"query", retries(openpgp.PW1), tries(3, true), nil},
			{"wrong again clears the status", verify(openpgp.PW1, "000000"), nil, openpgp.ErrWrongPIN},
			{"query", retries(openpgp.PW1), tries(2, false), nil},
		}},
		{"81 and 82 share a counter, not a status", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"wrong 81", verify(openpgp.PW1Sign, "000000"), nil, openpgp.ErrWrongPIN},
			{"82 sees it", retries(openpgp.PW1), tries(2, false), nil},
			{"verify 82", verify(openpgp.PW1, "123456"), nil, nil},
			{"82 verified", retries(openpgp.PW1), tries(3, true), nil},
			{"81 not verified", retries(openpgp.PW1Sign), tries(3, false), nil},
		}},
		{"clear verification and reselect", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"verify PW3", verify(openpgp.PW3, "123456"), nil, nil},
			{"read 0104", read(0x0104), "", nil},
			{"clear", func(e *env) (any, error) { return nil, e.client.ClearVerification(openpgp.PW3) }, nil, nil},
			{"read 0104 refused", read(0x0104), nil, openpgp.ErrSecurityStatus},
			{"verify PW3", verify(openpgp.PW3, "123456"), nil, nil},
			{"select again", selectApp, nil, nil},
			{"select cleared it", retries(openpgp.PW3), tries(3, false), nil},
			{"verify PW3", verify(openpgp.PW3, "123456"), nil, nil},
			{"card reset", func(e *env) (any, error) { e.card.Reset(); return nil, e.client.Select() }, nil, nil},
			{"reset cleared it", retries(openpgp.PW3), tries(3, false), nil},
		}},
		{"private DO access rules", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"read 0101 always", read(0x0101), "", nil},
			{"read 0102 always", read(0x0102), "", nil},
			{"read 0103 needs PW1", read(0x0103), nil, openpgp.ErrSecurityStatus},
			{"read 0104 needs PW3", read(0x0104), nil, openpgp.ErrSecurityStatus},
			{"write 0101 needs PW1", write(0x0101, "a"), nil, openpgp.ErrSecurityStatus},
			{"write 0102 needs PW3", write(0x0102, "b"), nil, openpgp.ErrSecurityStatus},
			{"write 0103 needs PW1", write(0x0103, "c"), nil, openpgp.ErrSecurityStatus},
			{"write 0104 needs PW3", write(0x0104, "d"), nil, openpgp.ErrSecurityStatus},
			{"PW1 81 is not enough", verify(openpgp.PW1Sign, "123456"), nil, nil},
			{"write 0101 with 81 only", write(0x0101, "a"), nil, openpgp.ErrSecurityStatus},
			{"verify PW1 82", verify(openpgp.PW1, "123456"), nil, nil},
			{"write 0101", write(0x0101, "user public"), nil, nil},
			{"write 0103", write(0x0103, "user secret"), nil, nil},
			{"read 0103", read(0x0103), "user secret", nil},
			{"write 0102 still needs PW3", write(0x0102, "b"), nil, openpgp.ErrSecurityStatus},
			{"read 0104 still needs PW3", read(0x0104), nil, openpgp.ErrSecurityStatus},
			{"verify PW3", verify(openpgp.PW3, "123456"), nil, nil},
			{"write 0102", write(0x0102, "admin public"), nil, nil},
			{"write 0104", write(0x0104, "admin secret"), nil, nil},
			{"read 0104", read(0x0104), "admin secret", nil},
			{"PW3 does not open 0103", func(e *env) (any, error) {
				if err := e.client.ClearVerification(openpgp.PW1); err != nil {
					return nil, err
				}
				return e.client.ReadPrivateDO(0x0103)
			}, nil, openpgp.ErrSecurityStatus},
			{"read 0101", read(0x0101), "user public", nil},
			{"read 0102", read(0x0102), "admin public", nil},
			{"empty 0104", write(0x0104, ""), nil, nil},
			{"read emptied 0104", read(0x0104), "", nil},
		}},
		{"private DO lengths", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"verify PW3", verify(openpgp.PW3, "123456"), nil, nil},
			{"255 bytes", write(0x0104, string(bytes.Repeat([]byte{'z'}, 255))), nil, nil},
			{"read 255 bytes", func(e *env) (any, error) { d, err := e.client.ReadPrivateDO(0x0104); return len(d), err }, 255, nil},
			{"256 bytes refused before sending", write(0x0104, string(bytes.Repeat([]byte{'z'}, 256))), nil, openpgp.ErrDataTooLong},
			{"not a private DO", read(0x0105), nil, openpgp.ErrInvalidArgument},
		}},
		{"change PW1", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"verify", verify(openpgp.PW1, "123456"), nil, nil},
			{"write 0103", write(0x0103, "s"), nil, nil},
			{"wrong old PIN", change(openpgp.PW1, "000000", "654321"), nil, openpgp.ErrWrongPIN},
			{"the wrong old PIN spent a try and cleared the status", retries(openpgp.PW1), tries(2, false), nil},
			{"verify again", verify(openpgp.PW1, "123456"), nil, nil},
			{"change", change(openpgp.PW1, "123456", "654321"), nil, nil},
			{"counter reset, verification cleared", retries(openpgp.PW1), tries(3, false), nil},
			{"81 cleared too", retries(openpgp.PW1Sign), tries(3, false), nil},
			{"0103 closed again", read(0x0103), nil, openpgp.ErrSecurityStatus},
			{"old PIN refused", verify(openpgp.PW1, "123456"), nil, openpgp.ErrWrongPIN},
			{"new PIN works", verify(openpgp.PW1, "654321"), nil, nil},
			{"longer new PIN", change(openpgp.PW1Sign, "654321", "a much longer passphrase"), nil, nil},
			{"split at the stored length", verify(openpgp.PW1, "a much longer passphrase"), nil, nil},
			{"PW3 unchanged", verify(openpgp.PW3, "123456"), nil, nil},
		}},
		{"change PW3", Options{PW3: []byte("12345678")}, []step{
			{"select", selectApp, nil, nil},
			{"verify", verify(openpgp.PW3, "12345678"), nil, nil},
			{"new PIN too short", change(openpgp.PW3, "12345678", "12345"), nil, openpgp.ErrBadData},
			{"unchanged", verify(openpgp.PW3, "12345678"), nil, nil},
			{"6-digit PW3 accepted", change(openpgp.PW3, "12345678", "246810"), nil, nil},
			{"verification cleared", retries(openpgp.PW3), tries(3, false), nil},
			{"new PIN works", verify(openpgp.PW3, "246810"), nil, nil},
		}},
		{"change blocked PIN", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"wrong 1", change(openpgp.PW3, "000000", "654321"), nil, openpgp.ErrWrongPIN},
			{"wrong 2", change(openpgp.PW3, "000000", "654321"), nil, openpgp.ErrWrongPIN},
			{"wrong 3", change(openpgp.PW3, "000000", "654321"), nil, openpgp.ErrPINBlocked},
			{"blocked", change(openpgp.PW3, "123456", "654321"), nil, openpgp.ErrPINBlocked},
			{"query", retries(openpgp.PW3), tries(0, false), nil},
		}},
		{"old PIN shorter than the stored one", Options{}, []step{
			{"select", selectApp, nil, nil},
			{"too little data", change(openpgp.PW1, "12", "3"), nil, openpgp.ErrWrongPIN},
			{"counted", retries(openpgp.PW1), tries(2, false), nil},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, tt.opts)
			for _, s := range tt.steps {
				got, err := s.do(e)
				if s.wantErr != nil {
					if !errors.Is(err, s.wantErr) {
						t.Fatalf("%s: error %v, want %v", s.name, err, s.wantErr)
					}
					continue
				}
				if err != nil {
					t.Fatalf("%s: unexpected error %v", s.name, err)
				}
				if s.want != nil && got != s.want {
					t.Fatalf("%s: got %v, want %v", s.name, got, s.want)
				}
			}
		})
	}
}

func TestPersistenceAcrossOpen(t *testing.T) {
	e := newEnv(t, Options{Serial: 7})
	c := e.client
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	must("select", c.Select())
	must("verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	must("verify PW3", c.Verify(openpgp.PW3, []byte("123456")))
	must("write 0103", c.WritePrivateDO(0x0103, []byte("share 1 of 3")))
	must("write 0104", c.WritePrivateDO(0x0104, []byte{0x00, 0xFF, 0x10}))
	must("change PW3", c.ChangePIN(openpgp.PW3, []byte("123456"), []byte("135790")))
	if err := c.Verify(openpgp.PW1, []byte("999999")); !errors.Is(err, openpgp.ErrWrongPIN) {
		t.Fatalf("wrong PIN: %v", err)
	}

	e.reader.Remove()
	card, err := Open(e.card.Path())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	e2 := insert(t, card)
	c = e2.client
	must("select", c.Select())
	if card.Serial() != "FFFE00000007" {
		t.Errorf("serial %s", card.Serial())
	}
	if n, v, err := c.RetriesLeft(openpgp.PW1); n != 2 || v || err != nil {
		t.Errorf("PW1 after reopen: %d %v %v, want 2 false", n, v, err)
	}
	if err := c.Verify(openpgp.PW3, []byte("123456")); !errors.Is(err, openpgp.ErrWrongPIN) {
		t.Errorf("old PW3 after reopen: %v", err)
	}
	must("new PW3", c.Verify(openpgp.PW3, []byte("135790")))
	must("verify PW1", c.Verify(openpgp.PW1, []byte("123456")))
	for tag, want := range map[uint16][]byte{0x0103: []byte("share 1 of 3"), 0x0104: {0x00, 0xFF, 0x10}, 0x0101: nil} {
		got, err := c.ReadPrivateDO(tag)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("DO %04X after reopen: % X %v, want % X", tag, got, err, want)
		}
	}
}

func TestTornWrite(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.client
	if err := c.Select(); err != nil {
		t.Fatal(err)
	}
	if err := c.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	if err := c.WritePrivateDO(0x0104, []byte("old value")); err != nil {
		t.Fatal(err)
	}
	e.card.TearNextWrite(4)
	// A write the access rules refuse does not trigger the tear.
	if err := c.WritePrivateDO(0x0103, []byte("refused")); !errors.Is(err, openpgp.ErrSecurityStatus) {
		t.Fatalf("refused write: %v", err)
	}
	err := c.WritePrivateDO(0x0104, []byte("brand new value"))
	if !errors.Is(err, ErrCardRemoved) {
		t.Fatalf("torn write: error %v, want ErrCardRemoved", err)
	}
	if e.reader.Card() != nil {
		t.Fatal("card still in the reader after a torn write")
	}
	if _, err := c.PWStatus(); !errors.Is(err, ErrCardRemoved) {
		t.Errorf("after the tear: %v, want ErrCardRemoved", err)
	}

	// The image holds the truncated value.
	reopened, err := Open(e.card.Path())
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if got := string(reopened.st.dos[0x0104]); got != "bran" {
		t.Errorf("image holds %q, want %q", got, "bran")
	}

	// So does the card itself, once inserted again; its PIN state is gone.
	if err := e.reader.Insert(e.card); err != nil {
		t.Fatal(err)
	}
	c = openpgp.NewClient(e.reader.Transport())
	if err := c.Select(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ReadPrivateDO(0x0104); !errors.Is(err, openpgp.ErrSecurityStatus) {
		t.Errorf("read without PIN after reinsertion: %v", err)
	}
	if err := c.Verify(openpgp.PW3, []byte("123456")); err != nil {
		t.Fatal(err)
	}
	got, err := c.ReadPrivateDO(0x0104)
	if err != nil || string(got) != "bran" {
		t.Errorf("read after reinsertion: %q %v", got, err)
	}
	// The tear fires once.
	if err := c.WritePrivateDO(0x0104, []byte("complete")); err != nil {
		t.Errorf("next write: %v", err)
	}
}

func TestTornWriteDirectProcess(t *testing.T) {
	e := newEnv(t, Options{})
	c := e.card
	mustSW(t, c, "00 A4 04 00 06 D2 76 00 01 24 01", 0x9000)
	mustSW(t, c, pinAPDU("00 20 00 82", "123456"), 0x9000)
	c.TearNextWrite(100) // more than the value: keeps it whole, still tears
	if resp := c.Process(apdu(t, "00 DA 01 01 03 41 42 43")); resp != nil {
		t.Fatalf("torn write answered % X, want nil", resp)
	}
	mustSW(t, c, "00 CA 01 01 00", 0x6985) // power lost: not selected any more
	mustSW(t, c, "00 A4 04 00 06 D2 76 00 01 24 01", 0x9000)
	if got := mustSW(t, c, "00 CA 01 01 00", 0x9000); string(got) != "ABC" {
		t.Errorf("0101 = %q", got)
	}
}
