package translog

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// Witness co-signatures of checkpoints, C2SP tlog-cosignature
// (https://c2sp.org/tlog-cosignature), Ed25519 type: a note signature
// line on the checkpoint whose key ID is
// SHA-256(name || "\n" || 0x04 || public key)[:4] and whose signature is
// a big-endian 8-byte POSIX timestamp followed by the Ed25519 signature of
//
//	cosignature/v1
//	time <timestamp>
//	<the checkpoint's note body>
//
// golang.org/x/mod/sumdb/note knows only the log's own signature type
// (0x01), so the construction is here, and the note package carries the
// lines.

// algCosignatureV1 is the signature type byte of an Ed25519
// cosignature/v1 key.
const algCosignatureV1 = 0x04

// CosignKeyHash is the key ID of an Ed25519 cosigner named name.
func CosignKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte("\n"))
	h.Write(append([]byte{algCosignatureV1}, pub...))
	return binary.BigEndian.Uint32(h.Sum(nil))
}

// WitnessName is the cosigner name of a witness's key: the key names the
// witness, so an auditor needs only the public key to check it.
func WitnessName(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return "ceremony-witness/" + hex.EncodeToString(s[:8])
}

// cosignedMessage is what a cosignature/v1 signs.
func cosignedMessage(body []byte, t uint64) []byte {
	return append([]byte("cosignature/v1\ntime "+strconv.FormatUint(t, 10)+"\n"), body...)
}

type cosigner struct {
	name string
	s    Signer
	t    uint64
}

func (c cosigner) Name() string    { return c.name }
func (c cosigner) KeyHash() uint32 { return CosignKeyHash(c.name, c.s.Public()) }
func (c cosigner) Sign(body []byte) ([]byte, error) {
	sig, err := c.s.Sign(cosignedMessage(body, c.t))
	if err != nil {
		return nil, err
	}
	return append(binary.BigEndian.AppendUint64(nil, c.t), sig...), nil
}

type coverifier struct {
	name string
	pub  ed25519.PublicKey
	t    *uint64 // the verified signature's timestamp
}

func (v coverifier) Name() string    { return v.name }
func (v coverifier) KeyHash() uint32 { return CosignKeyHash(v.name, v.pub) }
func (v coverifier) Verify(body, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	if t > 1<<63-1 || !ed25519.Verify(v.pub, cosignedMessage(body, t), sig[8:]) {
		return false
	}
	*v.t = t
	return true
}

// body returns the note body of a signed checkpoint (up to and with the
// newline before the blank line).
func body(signed []byte) ([]byte, error) {
	i := bytes.Index(signed, []byte("\n\n"))
	if i < 0 {
		return nil, fmt.Errorf("translog: not a signed checkpoint (no blank line before the signatures)")
	}
	return signed[:i+1], nil
}

// CosignLine returns the note signature line ("— name base64\n") of a
// cosignature/v1 of the signed checkpoint by s under name, at time t.
func CosignLine(signed []byte, name string, s Signer, t time.Time) (string, error) {
	b, err := body(signed)
	if err != nil {
		return "", err
	}
	if t.Unix() < 0 {
		return "", fmt.Errorf("translog: cosignature time %s is before 1970", t)
	}
	msg, err := note.Sign(&note.Note{Text: string(b)}, cosigner{name: name, s: s, t: uint64(t.Unix())})
	if err != nil {
		return "", fmt.Errorf("translog: co-sign the checkpoint as %s: %w", name, err)
	}
	return string(msg[len(b)+1:]), nil
}

// Cosigned is a verified co-signature.
type Cosigned struct {
	Name string
	Time time.Time
}

// ErrNotCosigned says a checkpoint holds no co-signature of a key.
var ErrNotCosigned = errors.New("translog: the checkpoint is not co-signed by this witness key")

// VerifyCosignature checks that the signed checkpoint (its note, with its
// signature lines) holds a valid cosignature/v1 by pub under name
// (WitnessName(pub) when name is ""). A line of that key that does not
// verify is an error naming it; no line of that key is ErrNotCosigned.
func VerifyCosignature(signed []byte, name string, pub ed25519.PublicKey) (Cosigned, error) {
	if name == "" {
		name = WitnessName(pub)
	}
	var t uint64
	v := coverifier{name: name, pub: pub, t: &t}
	_, err := note.Open(signed, note.VerifierList(v))
	var unverified *note.UnverifiedNoteError
	var invalid *note.InvalidSignatureError
	switch {
	case errors.As(err, &unverified):
		return Cosigned{}, fmt.Errorf("%w (%s)", ErrNotCosigned, name)
	case errors.As(err, &invalid):
		return Cosigned{}, fmt.Errorf("translog: the co-signature of %s does not verify: the checkpoint or the co-signature was changed", name)
	case err != nil:
		return Cosigned{}, fmt.Errorf("translog: read the co-signed checkpoint: %w", err)
	}
	return Cosigned{Name: name, Time: time.Unix(int64(t), 0).UTC()}, nil
}

// cosignSuffix ends a co-signature file's name, next to its checkpoint:
// CHECKPOINT.KEYHASH-TIME.cosignature.
const cosignSuffix = ".cosignature"

// WriteCosignature stores a co-signature line of the checkpoint file
// cpPath next to it (O_EXCL, fsynced, never rewritten) and returns its
// file.
func (d Dir) WriteCosignature(cpPath, line string, keyHash uint32, t time.Time) (string, error) {
	if !strings.HasPrefix(line, "— ") || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
		return "", fmt.Errorf("translog: %q is not one note signature line", line)
	}
	path := fmt.Sprintf("%s.%08x-%d%s", cpPath, keyHash, t.Unix(), cosignSuffix)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return "", fmt.Errorf("translog: create co-signature %s: %w", path, err)
	}
	_, werr := f.WriteString(line)
	serr := f.Sync()
	cerr := f.Close()
	if err := errors.Join(werr, serr, cerr); err != nil {
		return "", fmt.Errorf("translog: write co-signature %s: %w", path, err)
	}
	return path, syncDir(string(d))
}

// ReadCosigned returns the checkpoint file cpPath with the co-signature
// lines stored next to it appended (a note with more signature lines,
// C2SP signed-note). A co-signature file that is not one signature line
// is an error naming it.
func (d Dir) ReadCosigned(cpPath string) ([]byte, error) {
	b, err := os.ReadFile(cpPath)
	if err != nil {
		return nil, fmt.Errorf("translog: read checkpoint %s: %w", cpPath, err)
	}
	files, err := filepath.Glob(cpPath + ".*" + cosignSuffix)
	if err != nil {
		return nil, fmt.Errorf("translog: co-signatures of %s: %w", cpPath, err)
	}
	sort.Strings(files)
	for _, f := range files {
		line, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("translog: read co-signature %s: %w", f, err)
		}
		if !bytes.HasPrefix(line, []byte("— ")) || !bytes.HasSuffix(line, []byte("\n")) || bytes.Count(line, []byte("\n")) != 1 {
			return nil, fmt.Errorf("translog: co-signature %s is not one note signature line: the file is damaged", f)
		}
		b = append(b, line...)
	}
	return b, nil
}
