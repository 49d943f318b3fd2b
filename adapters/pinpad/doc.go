// Package pinpad implements the ceremonies.PinPad port: a scripted pad for
// tests and the demo, and a terminal pad for interactive use.
//
// Rules a caller must know:
//   - The display is two lines (16 characters each on a cyberJack e-com);
//     every Show is written to the display writer, with a prefix, so an
//     operator or a log sees exactly what the pad showed. PINs are never
//     written: a PIN entry shows one '*' per digit.
//   - EnterPIN returns a fresh slice; the caller wipes it.
package pinpad
