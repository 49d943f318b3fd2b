package part10_test

import (
	"errors"
	"fmt"

	"github.com/ceremony-hsm/ceremony/adapters/pcsc/part10"
)

func Example() {
	// Answer of Control(part10.CMIoctlGetFeatureRequest, nil) from a CCID
	// reader with a keypad.
	feats, err := part10.ParseFeatures([]byte{
		0x06, 0x04, 0x42, 0x33, 0x00, 0x06,
		0x07, 0x04, 0x42, 0x33, 0x00, 0x07,
	})
	if err != nil {
		panic(err)
	}
	ioctl, ok := feats.Control(part10.FeatureVerifyPINDirect)
	fmt.Printf("verify ioctl %#x %v\n", ioctl, ok)

	// OpenPGP PW1, variable length, 6..15 digits.
	in, err := part10.EncodeVerify(part10.VerifyParams{MinLen: 6, MaxLen: 15, PINRef: part10.PW1Sign})
	if err != nil {
		panic(err)
	}
	fmt.Printf("% X\n", in)

	// Control(ioctl, in) answers SW1 SW2.
	err = part10.ResponseError([]byte{0x63, 0xC2})
	var cs *part10.CardStatus
	fmt.Println(errors.As(err, &cs), fmt.Sprintf("%04X", cs.SW))
	fmt.Println(errors.Is(part10.ResponseError([]byte{0x64, 0x01}), part10.ErrCancelled))
	// Output:
	// verify ioctl 0x42330006 true
	// 00 00 82 00 00 0F 06 02 01 09 04 00 00 00 05 05 00 00 00 00 20 00 81 00
	// true 63C2
	// true
}
