package events

import "context"

// Sealed is an event that Encode checked and wrote: its stored bytes and
// the fields a store files it under. Only EncodeSealed makes one (the
// fields are unexported), so a store may take it without decoding the
// bytes again; a zero Sealed holds no event.
type Sealed struct {
	data                []byte
	id, ceremonyID, typ string
}

// EncodeSealed is Encode, keeping the fields a store needs beside the
// bytes.
func EncodeSealed(e Envelope) (Sealed, error) {
	data, err := Encode(e)
	if err != nil {
		return Sealed{}, err
	}
	return Sealed{data: data, id: e.ID, ceremonyID: e.CeremonyID, typ: e.Type}, nil
}

// Bytes returns the stored form (the caller must not change it).
func (s Sealed) Bytes() []byte { return s.data }

// ID returns the event id.
func (s Sealed) ID() string { return s.id }

// CeremonyID returns the ceremony id.
func (s Sealed) CeremonyID() string { return s.ceremonyID }

// Type returns the event type.
func (s Sealed) Type() string { return s.typ }

// SealedAppender is a Store that appends a Sealed event without decoding
// it again (Append decodes what it is handed, to refuse malformed bytes).
type SealedAppender interface {
	// AppendSealed is Append of ev.Bytes() under ev's ceremony and id.
	AppendSealed(ctx context.Context, expected uint64, ev Sealed) (uint64, error)
}
