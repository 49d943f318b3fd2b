package jetstream

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// locatorFile, in the data directory next to the seal and the sealed
// projection, says where each ceremony's events are in the stream's block
// files as an orderly shutdown left them, and names that shutdown's seal
// by its SHA-256 (ARCHITECTURE.md, "A read without a server"). While the
// seal holds and the file names it, ReadSealedCeremony reads one
// ceremony's records from the blocks (blockrecord.go) without starting
// the server. It is written with the sealed projection and removed with
// it. Layout, after a JSON header line (locatorHeader):
//
//	table: Ceremonies × {id hash [8]byte, area offset uint64, count uint32}
//	       sorted by id hash (the first 8 bytes of SHA-256(id)), then id
//	areas: per ceremony {id length uint16, id, count × location}
//	location: {block index uint32, byte offset uint64, stream sequence uint64}
//
// all little-endian, offsets from the file's start. A reader finds one
// ceremony with a binary search of the table and reads its area: a few
// KB, not the file. Nothing in the file is trusted: every record read
// through it is checked (sequence, subject, the block's record hash, the
// event's own hash) and the count against the sealed projection's.
const locatorFile = "store-seal-locator.bin"

// locatorFormat is the first field of the header.
const locatorFormat = "ceremony seal locator v1"

const (
	locatorTableEntry = 20 // id hash, area offset, count
	locatorLocation   = 20 // block, offset, sequence
)

// locatorHeader is the file's first line.
type locatorHeader struct {
	Format     string `json:"format"`
	SealSHA256 string `json:"seal_sha256"`
	Stream     string `json:"stream"`
	LastSeq    uint64 `json:"last_seq"`
	// NextBlock and NextOffset are where the record after LastSeq goes:
	// the next build scans from there (an incremental build).
	NextBlock  uint32 `json:"next_block"`
	NextOffset int64  `json:"next_offset"`
	Ceremonies int    `json:"ceremonies"`
	Size       int64  `json:"size"` // the file's, header included
}

// location is where one event is: block file index, byte offset, and the
// stream sequence of its record.
type location struct {
	Block  uint32
	Offset uint64
	Seq    uint64
}

// locatorHash is the table's key of a ceremony id.
func locatorHash(id string) uint64 {
	sum := sha256.Sum256([]byte(id))
	return binary.BigEndian.Uint64(sum[:8])
}

// streamBlocks returns the block files of stream listed in entries (a
// seal), by index, and the indexes in order. A key file (an encrypted
// stream) or a file in msgs/ that is not <index>.blk is an error.
func streamBlocks(entries []sealEntry, stream string) (map[uint32]sealEntry, []uint32, error) {
	blocks := map[uint32]sealEntry{}
	var order []uint32
	for _, e := range entries {
		dir, name := filepath.Split(e.Path)
		if filepath.Base(dir) != "msgs" || filepath.Base(filepath.Dir(filepath.Clean(dir))) != stream {
			continue
		}
		n, ok := strings.CutSuffix(name, ".blk")
		idx, err := strconv.ParseUint(n, 10, 32)
		if !ok || err != nil {
			return nil, nil, fmt.Errorf("the stream's msgs/ holds %s, not a plain block file (encrypted or of another server version)", name)
		}
		blocks[uint32(idx)] = e
		order = append(order, uint32(idx))
	}
	slices.Sort(order)
	return blocks, order, nil
}

// locatorBuild is the in-memory locator while it is built.
type locatorBuild struct {
	ceremonies map[string][]location
	lastSeq    uint64
	nextBlock  uint32
	nextOffset int64
}

// writeLocator writes the locator file after the seal and the sealed
// projection (covering lastSeq) are written. When the locator left by
// the previous orderly shutdown names openSeal (the seal that held when
// this store opened: no one changed the files since), only the records
// after it are scanned; otherwise every block is.
func writeLocator(dataDir, storeDir, stream string, lastSeq uint64, openSeal string) error {
	path := filepath.Join(dataDir, locatorFile)
	seal, err := os.ReadFile(filepath.Join(dataDir, sealFile))
	if err != nil {
		return fmt.Errorf("jetstream: read the seal to name it in %s: %w", path, err)
	}
	var entries []sealEntry
	if err := json.Unmarshal(seal, &entries); err != nil {
		return fmt.Errorf("jetstream: %s: %w", sealFile, err)
	}
	blocks, order, err := streamBlocks(entries, stream)
	if err != nil {
		return fmt.Errorf("jetstream: %s: %w", path, err)
	}
	b := locatorBuild{ceremonies: map[string][]location{}}
	if openSeal != "" {
		prev, err := readWholeLocator(path, openSeal, stream)
		if err == nil && prev.lastSeq <= lastSeq {
			b = prev
		}
	}
	if err := b.scan(storeDir, stream, blocks, order); err != nil {
		if b.lastSeq == 0 {
			return fmt.Errorf("jetstream: %s: %w", path, err)
		}
		// The previous locator does not lead on: build it whole.
		b = locatorBuild{ceremonies: map[string][]location{}}
		if err := b.scan(storeDir, stream, blocks, order); err != nil {
			return fmt.Errorf("jetstream: %s: %w", path, err)
		}
	}
	if b.lastSeq != lastSeq {
		return fmt.Errorf("jetstream: %s: the blocks end at stream sequence %d, the stream at %d", path, b.lastSeq, lastSeq)
	}
	return b.write(path, locatorHeader{Format: locatorFormat, SealSHA256: sealDigest(seal), Stream: stream, LastSeq: b.lastSeq, NextBlock: b.nextBlock, NextOffset: b.nextOffset})
}

// scan adds the records after b.lastSeq, from block b.nextBlock at
// b.nextOffset on: every message record must be the next sequence.
func (b *locatorBuild) scan(storeDir, stream string, blocks map[uint32]sealEntry, order []uint32) error {
	for _, idx := range order {
		if idx < b.nextBlock {
			continue
		}
		from := int64(0)
		if idx == b.nextBlock {
			from = b.nextOffset
		}
		e := blocks[idx]
		if from > e.Size {
			return fmt.Errorf("block %d has %d bytes, the scan resumes at %d", idx, e.Size, from)
		}
		data, err := readFileFrom(filepath.Join(storeDir, e.Path), from, e.Size)
		if err != nil {
			return err
		}
		for off := 0; off < len(data); {
			r, err := parseBlockRecord(data[off:], nil) // the reader checks the hash
			if err != nil {
				return fmt.Errorf("block %d at %d: %w", idx, from+int64(off), err)
			}
			if !r.Tombstone {
				if r.Seq != b.lastSeq+1 {
					return fmt.Errorf("block %d at %d: stream sequence %d follows %d", idx, from+int64(off), r.Seq, b.lastSeq)
				}
				id := subjectCeremony(r.Subject)
				if id == "" {
					return fmt.Errorf("block %d at %d: stream sequence %d is on subject %q, not an event's", idx, from+int64(off), r.Seq, r.Subject)
				}
				b.ceremonies[id] = append(b.ceremonies[id], location{Block: idx, Offset: uint64(from) + uint64(off), Seq: r.Seq})
				b.lastSeq = r.Seq
			}
			off += r.Len
		}
		b.nextBlock, b.nextOffset = idx, e.Size
	}
	return nil
}

// readFileFrom reads path from offset from to size.
func readFileFrom(path string, from, size int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data := make([]byte, size-from)
	if _, err := f.ReadAt(data, from); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return data, nil
}

// write writes the file atomically (replaceFile).
func (b *locatorBuild) write(path string, h locatorHeader) error {
	type keyed struct {
		hash uint64
		id   string
	}
	ids := make([]keyed, 0, len(b.ceremonies))
	for id := range b.ceremonies {
		if len(id) > 0xffff {
			return fmt.Errorf("jetstream: %s: ceremony id of %d bytes", path, len(id))
		}
		ids = append(ids, keyed{locatorHash(id), id})
	}
	slices.SortFunc(ids, func(x, y keyed) int {
		if x.hash != y.hash {
			if x.hash < y.hash {
				return -1
			}
			return 1
		}
		return strings.Compare(x.id, y.id)
	})
	h.Ceremonies = len(ids)
	// The header's length depends on Size: fixed by iterating once more
	// when Size's digits change it.
	body := int64(len(ids)) * locatorTableEntry
	for _, k := range ids {
		body += 2 + int64(len(k.id)) + int64(len(b.ceremonies[k.id]))*locatorLocation
	}
	var line []byte
	for range 3 {
		hb, err := json.Marshal(h)
		if err != nil {
			return err
		}
		line = append(hb, '\n')
		if h.Size == int64(len(line))+body {
			break
		}
		h.Size = int64(len(line)) + body
	}
	le := binary.LittleEndian
	return replaceFile(path, func(f io.Writer) error {
		w := bufio.NewWriterSize(f, 1<<20)
		w.Write(line)
		area := uint64(len(line)) + uint64(len(ids))*locatorTableEntry
		var buf [locatorTableEntry]byte
		for _, k := range ids {
			binary.BigEndian.PutUint64(buf[0:], k.hash)
			le.PutUint64(buf[8:], area)
			le.PutUint32(buf[16:], uint32(len(b.ceremonies[k.id])))
			w.Write(buf[:])
			area += 2 + uint64(len(k.id)) + uint64(len(b.ceremonies[k.id]))*locatorLocation
		}
		for _, k := range ids {
			id := k.id
			var n [2]byte
			le.PutUint16(n[:], uint16(len(id)))
			w.Write(n[:])
			w.WriteString(id)
			for _, l := range b.ceremonies[id] {
				le.PutUint32(buf[0:], l.Block)
				le.PutUint64(buf[4:], l.Offset)
				le.PutUint64(buf[12:], l.Seq)
				w.Write(buf[:])
			}
		}
		return w.Flush()
	})
}

// writeLocator writes the locator file next to the sealed projection
// written (covering lastSeq), or removes it when none is; a locator that
// cannot be built is removed and its error returned.
func (s *Store) writeLocator(written bool, lastSeq uint64) error {
	dataDir := filepath.Dir(s.storeDir)
	if !written {
		return removeLocator(dataDir)
	}
	err := writeLocator(dataDir, s.storeDir, s.name, lastSeq, s.openSeal)
	if err != nil {
		return errors.Join(err, removeLocator(dataDir))
	}
	return nil
}

// removeLocator removes the file (no sealed projection is written, so no
// read without a server uses it).
func removeLocator(dataDir string) error {
	path := filepath.Join(dataDir, locatorFile)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("jetstream: remove %s: %w", path, err)
	}
	return nil
}

// readLocatorHeader reads and checks the header of the open file f:
// format, seal, stream and size.
func readLocatorHeader(f *os.File, sealSum, stream string) (locatorHeader, int64, error) {
	buf := make([]byte, 4096)
	n, err := f.ReadAt(buf, 0)
	if err != nil && !errors.Is(err, io.EOF) {
		return locatorHeader{}, 0, err
	}
	end := bytes.IndexByte(buf[:n], '\n')
	if end < 0 {
		return locatorHeader{}, 0, fmt.Errorf("no header line")
	}
	var h locatorHeader
	d := json.NewDecoder(bytes.NewReader(buf[:end]))
	d.DisallowUnknownFields()
	if err := d.Decode(&h); err != nil {
		return locatorHeader{}, 0, fmt.Errorf("the header does not decode: %w", err)
	}
	info, err := f.Stat()
	if err != nil {
		return locatorHeader{}, 0, err
	}
	switch {
	case h.Format != locatorFormat:
		return locatorHeader{}, 0, fmt.Errorf("format %q, this build reads %q", h.Format, locatorFormat)
	case h.SealSHA256 != sealSum:
		return locatorHeader{}, 0, fmt.Errorf("it belongs to another seal than %s", sealFile)
	case h.Stream != stream:
		return locatorHeader{}, 0, fmt.Errorf("it is of stream %q, not %q", h.Stream, stream)
	case info.Size() != h.Size:
		return locatorHeader{}, 0, fmt.Errorf("it has %d bytes, its header says %d (cut short or damaged)", info.Size(), h.Size)
	case h.Ceremonies < 0 || int64(h.Ceremonies)*locatorTableEntry > h.Size:
		return locatorHeader{}, 0, fmt.Errorf("%d ceremonies cannot fit in it", h.Ceremonies)
	}
	return h, int64(end + 1), nil
}

// readWholeLocator reads every ceremony's locations from the file at
// path, which must name the seal sealSum, to build the next one on it.
func readWholeLocator(path, sealSum, stream string) (locatorBuild, error) {
	f, err := os.Open(path)
	if err != nil {
		return locatorBuild{}, err
	}
	defer f.Close()
	h, table, err := readLocatorHeader(f, sealSum, stream)
	if err != nil {
		return locatorBuild{}, err
	}
	data := make([]byte, h.Size)
	if _, err := f.ReadAt(data, 0); err != nil {
		return locatorBuild{}, err
	}
	le := binary.LittleEndian
	b := locatorBuild{ceremonies: make(map[string][]location, h.Ceremonies), lastSeq: h.LastSeq, nextBlock: h.NextBlock, nextOffset: h.NextOffset}
	// One allocation for every location; each ceremony's slice is capped,
	// so that an append for a newer record copies it.
	all := make([]location, 0, (h.Size-table)/locatorLocation)
	for i := range int64(h.Ceremonies) {
		e := data[table+i*locatorTableEntry:]
		area, count := le.Uint64(e[8:]), uint64(le.Uint32(e[16:]))
		if area+2 > uint64(len(data)) {
			return locatorBuild{}, fmt.Errorf("%s: entry %d points outside the file", path, i)
		}
		idLen := uint64(le.Uint16(data[area:]))
		end := area + 2 + idLen + count*locatorLocation
		if end > uint64(len(data)) {
			return locatorBuild{}, fmt.Errorf("%s: entry %d points outside the file", path, i)
		}
		id := string(data[area+2 : area+2+idLen])
		start := len(all)
		for j := range count {
			l := data[area+2+idLen+j*locatorLocation:]
			all = append(all, location{Block: le.Uint32(l), Offset: le.Uint64(l[4:]), Seq: le.Uint64(l[12:])})
		}
		b.ceremonies[id] = all[start:len(all):len(all)]
	}
	return b, nil
}
