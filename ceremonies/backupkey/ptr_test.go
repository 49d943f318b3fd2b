package backupkey_test

import "unsafe"

func ptrOf(b []byte) unsafe.Pointer { return unsafe.Pointer(&b[0]) }
