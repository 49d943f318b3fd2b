package jetstream

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/ceremony-hsm/ceremony/events"
)

// SealedCeremony is one ceremony read without starting the server: its
// records as stored, and the sealed projection's parts asked for.
type SealedCeremony struct {
	Projection SealedProjection
	// Records are the ceremony's events in stream order; none when the
	// locator has no such ceremony.
	Records []events.Record
}

// ReadSealedCeremony reads ceremony id's records from the stream's block
// files through the locator file, and the named parts of the sealed
// projection, without starting the server, under the same conditions as
// ReadSealedProjection (the data directory's lock held, the seal holding,
// the files naming it). Each record is checked: its block is one the seal
// lists, it ends within the sealed size, its hash matches
// (blockrecord.go), its sequence is the one the locator gives and at most
// the sealed last, its subject is the event's (decodeRecord) and of
// ceremony id. Anything else is an error saying what: the caller then
// starts the server. The caller checks the count against the sealed
// projection's (nothing is missing) and the hash chain by folding.
func ReadSealedCeremony(cfg Config, id string, names ...string) (SealedCeremony, error) {
	if err := checkCeremonyID("read sealed", id); err != nil {
		return SealedCeremony{}, err
	}
	seal, entries, unlock, err := lockHeldSeal(cfg)
	if err != nil {
		return SealedCeremony{}, err
	}
	defer unlock()
	sp, err := readSealedParts(cfg, seal, names...)
	if err != nil {
		return SealedCeremony{}, err
	}
	path := filepath.Join(cfg.DataDir, locatorFile)
	locs, lastSeq, err := lookupLocator(path, sealDigest(seal), cfg.streamName(), id)
	if err != nil {
		return SealedCeremony{}, fmt.Errorf("%s: %w", path, err)
	}
	if lastSeq != sp.LastSeq {
		return SealedCeremony{}, fmt.Errorf("%s covers stream sequence %d, the sealed projection file %d", path, lastSeq, sp.LastSeq)
	}
	recs, err := readLocated(cfg, entries, locs, id, lastSeq)
	if err != nil {
		return SealedCeremony{}, err
	}
	return SealedCeremony{Projection: sp, Records: recs}, nil
}

// lookupLocator returns the locations of ceremony id in the locator file
// at path, which must name the seal sealSum, and the last sequence it
// covers; no locations when the file has no such ceremony. It reads the
// header, a binary search's table entries and the ceremony's area.
func lookupLocator(path, sealSum, stream, id string) ([]location, uint64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	h, table, err := readLocatorHeader(f, sealSum, stream)
	if err != nil {
		return nil, 0, err
	}
	le := binary.LittleEndian
	key := locatorHash(id)
	var readErr error
	entry := func(i int) []byte {
		var e [locatorTableEntry]byte
		if _, err := f.ReadAt(e[:], table+int64(i)*locatorTableEntry); err != nil && readErr == nil {
			readErr = fmt.Errorf("table entry %d: %w", i, err)
		}
		return e[:]
	}
	i := sort.Search(h.Ceremonies, func(i int) bool { return binary.BigEndian.Uint64(entry(i)) >= key })
	for ; i < h.Ceremonies && readErr == nil; i++ {
		e := entry(i)
		if binary.BigEndian.Uint64(e) != key {
			break
		}
		area, count := int64(le.Uint64(e[8:])), int64(le.Uint32(e[16:]))
		if area < table || area+2 > h.Size {
			return nil, 0, fmt.Errorf("table entry %d points outside the file", i)
		}
		head := make([]byte, 2+len(id))
		if _, err := f.ReadAt(head, area); err != nil {
			return nil, 0, fmt.Errorf("table entry %d: %w", i, err)
		}
		if int(le.Uint16(head)) != len(id) || string(head[2:]) != id {
			continue // another id of the same hash
		}
		at := area + int64(len(head))
		if count < 1 || at+count*locatorLocation > h.Size {
			return nil, 0, fmt.Errorf("ceremony %s: %d locations do not fit in the file", id, count)
		}
		buf := make([]byte, count*locatorLocation)
		if _, err := f.ReadAt(buf, at); err != nil {
			return nil, 0, fmt.Errorf("ceremony %s: %w", id, err)
		}
		locs := make([]location, count)
		for j := range locs {
			l := buf[j*locatorLocation:]
			locs[j] = location{Block: le.Uint32(l), Offset: le.Uint64(l[4:]), Seq: le.Uint64(l[12:])}
		}
		return locs, h.LastSeq, nil
	}
	if readErr != nil {
		return nil, 0, readErr
	}
	return nil, h.LastSeq, nil
}

// readLocated reads and checks the records at locs (see
// ReadSealedCeremony) from the block files the seal entries list.
func readLocated(cfg Config, entries []sealEntry, locs []location, id string, lastSeq uint64) ([]events.Record, error) {
	blocks, _, err := streamBlocks(entries, cfg.streamName())
	if err != nil {
		return nil, err
	}
	files := map[uint32]*os.File{}
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	recs := make([]events.Record, 0, len(locs))
	var prev uint64
	var dec events.Decoder // one per read, as every read of the store (read.go)
	for _, l := range locs {
		b, ok := blocks[l.Block]
		if !ok {
			return nil, fmt.Errorf("stream sequence %d: the seal lists no block %d", l.Seq, l.Block)
		}
		if l.Seq <= prev || l.Seq > lastSeq {
			return nil, fmt.Errorf("stream sequence %d after %d, of a stream ending at %d", l.Seq, prev, lastSeq)
		}
		prev = l.Seq
		f := files[l.Block]
		if f == nil {
			if f, err = os.Open(filepath.Join(cfg.storeDir(), b.Path)); err != nil {
				return nil, err
			}
			files[l.Block] = f
		}
		if l.Offset > uint64(b.Size) || uint64(b.Size)-l.Offset < blockRecordHeader {
			return nil, fmt.Errorf("stream sequence %d: offset %d is outside block %d (%d bytes)", l.Seq, l.Offset, l.Block, b.Size)
		}
		var hdr [blockRecordHeader]byte
		if _, err := f.ReadAt(hdr[:], int64(l.Offset)); err != nil {
			return nil, fmt.Errorf("stream sequence %d: %w", l.Seq, err)
		}
		rl, err := blockRecordLen(hdr[:])
		if err != nil {
			return nil, fmt.Errorf("stream sequence %d in block %d at %d: %w", l.Seq, l.Block, l.Offset, err)
		}
		if uint64(rl) > uint64(b.Size)-l.Offset {
			return nil, fmt.Errorf("stream sequence %d: its record overruns block %d", l.Seq, l.Block)
		}
		buf := make([]byte, rl)
		if _, err := f.ReadAt(buf, int64(l.Offset)); err != nil {
			return nil, fmt.Errorf("stream sequence %d: %w", l.Seq, err)
		}
		r, err := parseBlockRecord(buf, blockHash(cfg.streamName(), l.Block))
		if err != nil {
			return nil, fmt.Errorf("stream sequence %d in block %d at %d: %w", l.Seq, l.Block, l.Offset, err)
		}
		if r.Tombstone || r.Seq != l.Seq {
			return nil, fmt.Errorf("block %d at %d holds stream sequence %d (tombstone %v), not %d", l.Block, l.Offset, r.Seq, r.Tombstone, l.Seq)
		}
		rec, err := decodeRecord(&dec, r.Seq, r.Subject, r.Msg)
		if err != nil {
			return nil, err
		}
		if rec.CeremonyID != id {
			return nil, fmt.Errorf("stream sequence %d holds an event of ceremony %s", r.Seq, rec.CeremonyID)
		}
		recs = append(recs, rec)
	}
	return recs, nil
}
