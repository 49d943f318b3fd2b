package pkcs11hsm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/miekg/pkcs11"
)

// findObjects lists every object matching template; the caller holds h.mu.
func (h *HSM) findObjects(what string, template []*pkcs11.Attribute) ([]pkcs11.ObjectHandle, error) {
	if err := h.mod.ctx.FindObjectsInit(h.session, template); err != nil {
		return nil, translate(what+" (C_FindObjectsInit)", err)
	}
	var all []pkcs11.ObjectHandle
	var ferr error
	for {
		objs, _, err := h.mod.ctx.FindObjects(h.session, 64)
		if err != nil {
			ferr = translate(what+" (C_FindObjects)", err)
			break
		}
		all = append(all, objs...)
		if len(objs) == 0 {
			break
		}
	}
	if err := h.mod.ctx.FindObjectsFinal(h.session); err != nil && ferr == nil {
		ferr = translate(what+" (C_FindObjectsFinal)", err)
	}
	if ferr != nil {
		return nil, ferr
	}
	return all, nil
}

// boolAttr reads a boolean attribute; one the token does not know is false.
func (h *HSM) boolAttr(obj pkcs11.ObjectHandle, typ uint) (bool, error) {
	a, err := h.mod.ctx.GetAttributeValue(h.session, obj, []*pkcs11.Attribute{pkcs11.NewAttribute(typ, nil)})
	switch {
	case err == nil:
		return isTrue(a[0].Value), nil
	case isRV(err, pkcs11.CKR_ATTRIBUTE_TYPE_INVALID):
		return false, nil
	default:
		return false, translate(fmt.Sprintf("read attribute %#x of a key", typ), err)
	}
}

// ulongOf decodes a CK_ULONG attribute value (native byte order).
func ulongOf(v []byte) (uint, bool) {
	switch len(v) {
	case 8:
		return uint(binary.NativeEndian.Uint64(v)), true
	case 4:
		return uint(binary.NativeEndian.Uint32(v)), true
	}
	return 0, false
}

func isTrue(v []byte) bool { return len(v) == 1 && v[0] != 0 }

// sameInteger compares two big-endian unsigned integers, ignoring leading zeros.
func sameInteger(a, b []byte) bool {
	return bytes.Equal(bytes.TrimLeft(a, "\x00"), bytes.TrimLeft(b, "\x00"))
}

func unwrapTemplate(k KeyInfo, class, keyType uint) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
		pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, keyType),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
	}
	// CKA_EC_PARAMS, CKA_MODULUS and CKA_VALUE_LEN come from the wrapped
	// key: PKCS#11 forbids them in an unwrap template (SoftHSM2 answers
	// CKR_ATTRIBUTE_READ_ONLY), so they are checked afterwards. Usages are
	// all given, since tokens default the others differently (SoftHSM2 to
	// true).
	return append(t, usageAttributes(class, restoredUsages[k.KeyType])...)
}

// restoredUsages are the usages a restored key gets, by type; every other
// usage attribute is set false.
var restoredUsages = map[string][]uint{
	KeyTypeEC:            {pkcs11.CKA_SIGN},
	KeyTypeRSA:           {pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT},
	KeyTypeAES:           {pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT},
	KeyTypeGenericSecret: {pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY},
}

// usageAttributes sets the usage attributes a key of class has: those
// in on true, the others false.
func usageAttributes(class uint, on []uint) []*pkcs11.Attribute {
	all := []uint{pkcs11.CKA_SIGN, pkcs11.CKA_DECRYPT, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE, pkcs11.CKA_SIGN_RECOVER}
	if class == pkcs11.CKO_SECRET_KEY {
		all = []uint{pkcs11.CKA_SIGN, pkcs11.CKA_VERIFY, pkcs11.CKA_ENCRYPT, pkcs11.CKA_DECRYPT,
			pkcs11.CKA_WRAP, pkcs11.CKA_UNWRAP, pkcs11.CKA_DERIVE}
	}
	var t []*pkcs11.Attribute
	for _, a := range all {
		t = append(t, pkcs11.NewAttribute(a, slices.Contains(on, a)))
	}
	return t
}

func publicTemplate(k KeyInfo) []*pkcs11.Attribute {
	t := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_CLASS, pkcs11.CKO_PUBLIC_KEY),
		pkcs11.NewAttribute(pkcs11.CKA_TOKEN, true),
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, false),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
		pkcs11.NewAttribute(pkcs11.CKA_VERIFY_RECOVER, false),
		pkcs11.NewAttribute(pkcs11.CKA_WRAP, false),
		pkcs11.NewAttribute(pkcs11.CKA_DERIVE, false),
		pkcs11.NewAttribute(pkcs11.CKA_LABEL, k.Label),
		pkcs11.NewAttribute(pkcs11.CKA_ID, k.ID),
	}
	switch k.KeyType {
	case KeyTypeEC:
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, false),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, k.ECParams),
			pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, k.ECPoint))
	case KeyTypeRSA:
		t = append(t,
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, k.Modulus),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, k.PublicExponent))
	}
	return t
}
