package secret

import "fmt"

// sbox is the AES S-box (FIPS 197, section 5.1.1), computed at start.
var sbox = func() (s [256]byte) {
	p, q := byte(1), byte(1)
	for {
		// p times 3 in GF(2^8); q divided by 3.
		if p&0x80 != 0 {
			p ^= p<<1 ^ 0x1b
		} else {
			p ^= p << 1
		}
		q ^= q << 1
		q ^= q << 2
		q ^= q << 4
		if q&0x80 != 0 {
			q ^= 0x09
		}
		x := q ^ rotl(q, 1) ^ rotl(q, 2) ^ rotl(q, 3) ^ rotl(q, 4)
		s[p] = x ^ 0x63
		if p == 1 {
			break
		}
	}
	s[0] = 0x63
	return s
}()

func rotl(b byte, n uint) byte { return b<<n | b>>(8-n) }

func xtime(b byte) byte {
	if b&0x80 != 0 {
		return b<<1 ^ 0x1b
	}
	return b << 1
}

const (
	aesRounds   = 14
	aesSchedule = 16 * (aesRounds + 1) // 240 bytes of round keys
)

// AES256Block encrypts one block under a 32-byte key (FIPS 197, AES-256)
// with the round keys and the state in a locked buffer that is wiped
// before it returns. crypto/aes keeps its key schedule (whose first two
// round keys are the key itself) in ordinary heap memory that cannot be
// wiped; this is for the key check value, where one block is all that is
// needed and speed does not matter.
func AES256Block(key []byte, in [16]byte) ([16]byte, error) {
	var out [16]byte
	if len(key) != 32 {
		return out, fmt.Errorf("secret: AES-256 needs a 32-byte key, got %d bytes", len(key))
	}
	buf, err := New(aesSchedule + 16 + 16 + 4)
	if err != nil {
		return out, err
	}
	defer buf.Release()
	b := buf.Bytes()
	w, st, tmp, word := b[:aesSchedule], b[aesSchedule:aesSchedule+16], b[aesSchedule+16:aesSchedule+32], b[aesSchedule+32:]
	expand(key, w, word)
	copy(st, in[:])
	addRoundKey(st, w[:16])
	for round := 1; round <= aesRounds; round++ {
		for i := range st {
			st[i] = sbox[st[i]]
		}
		shiftRows(st, tmp)
		if round != aesRounds {
			mixColumns(st)
		}
		addRoundKey(st, w[16*round:16*round+16])
	}
	copy(out[:], st)
	return out, nil
}

// expand writes the AES-256 key schedule (FIPS 197, section 5.2) into w,
// using word as scratch.
func expand(key, w, word []byte) {
	copy(w, key)
	rcon := byte(1)
	for i := 8; i < 4*(aesRounds+1); i++ {
		copy(word, w[4*(i-1):4*i])
		switch i % 8 {
		case 0:
			word[0], word[1], word[2], word[3] = sbox[word[1]]^rcon, sbox[word[2]], sbox[word[3]], sbox[word[0]]
			rcon = xtime(rcon)
		case 4:
			for j := range word {
				word[j] = sbox[word[j]]
			}
		}
		for j := 0; j < 4; j++ {
			w[4*i+j] = w[4*(i-8)+j] ^ word[j]
		}
	}
	Wipe(word)
}

func addRoundKey(st, k []byte) {
	for i := range st {
		st[i] ^= k[i]
	}
}

// shiftRows: the state is column-major, byte r+4c is row r, column c.
func shiftRows(st, tmp []byte) {
	copy(tmp, st)
	for c := 0; c < 4; c++ {
		for r := 0; r < 4; r++ {
			st[r+4*c] = tmp[r+4*((c+r)%4)]
		}
	}
	Wipe(tmp)
}

func mixColumns(st []byte) {
	for c := 0; c < 16; c += 4 {
		a0, a1, a2, a3 := st[c], st[c+1], st[c+2], st[c+3]
		st[c] = xtime(a0) ^ xtime(a1) ^ a1 ^ a2 ^ a3
		st[c+1] = a0 ^ xtime(a1) ^ xtime(a2) ^ a2 ^ a3
		st[c+2] = a0 ^ a1 ^ xtime(a2) ^ xtime(a3) ^ a3
		st[c+3] = xtime(a0) ^ a0 ^ a1 ^ a2 ^ xtime(a3)
	}
}
