package events

import (
	"bytes"
	"encoding"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A plan encodes and decodes one payload struct type in its canonical
// form, exactly the bytes json.Marshal writes, without encoding/json's
// generic machinery: the fields are looked up once, with reflection, when
// the type is registered. The decoder accepts only the canonical form
// (every field in order, no white space, strings without escapes); for
// anything else, or a type whose fields it does not know, the registry
// falls back to encoding/json, which decides and names the problem. So
// strictness is unchanged: what the plan accepts, the strict decoder
// accepts with the same value (fuzzed in FuzzPlanMatchesEncodingJSON).

type fieldKind int

const (
	kString fieldKind = iota
	kInt
	kBool
	kTime
	kStruct
	kSlice
)

type planField struct {
	key       string // `"name":`
	index     int
	kind      fieldKind
	omitEmpty bool
	elem      *planField // kSlice: the element (index unused)
	plan      *plan      // kStruct
	typ       reflect.Type
}

type plan struct {
	fields []planField
}

var (
	timeType      = reflect.TypeFor[time.Time]()
	marshalerType = []reflect.Type{
		reflect.TypeFor[json.Marshaler](), reflect.TypeFor[json.Unmarshaler](),
		reflect.TypeFor[encoding.TextMarshaler](), reflect.TypeFor[encoding.TextUnmarshaler](),
	}
)

// customCodec reports whether t (or *t) has its own JSON or text methods.
func customCodec(t reflect.Type) bool {
	for _, m := range marshalerType {
		if t.Implements(m) || reflect.PointerTo(t).Implements(m) {
			return true
		}
	}
	return false
}

// newPlan returns the plan of struct type t, or nil if it has a field the
// plan does not handle (then encoding/json does the work).
func newPlan(t reflect.Type) *plan {
	if t.Kind() != reflect.Struct || customCodec(t) {
		return nil
	}
	p := &plan{}
	seen := map[string]bool{}
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			if sf.Anonymous {
				return nil
			}
			continue
		}
		if sf.Anonymous {
			return nil
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "-" && opts == "" {
			continue
		}
		if name == "" {
			name = sf.Name
		}
		if !plainKey(name) || seen[name] || (opts != "" && opts != "omitempty") {
			return nil
		}
		seen[name] = true
		f, ok := newField(sf.Type)
		if !ok {
			return nil
		}
		f.key, f.index = `"`+name+`":`, i
		// json.Marshal never omits a struct (time.Time included).
		f.omitEmpty = opts == "omitempty" && f.kind != kStruct && f.kind != kTime
		p.fields = append(p.fields, f)
	}
	return p
}

func newField(t reflect.Type) (planField, bool) {
	f := planField{typ: t}
	if t == timeType {
		f.kind = kTime
		return f, true
	}
	if customCodec(t) {
		return f, false
	}
	switch t.Kind() {
	case reflect.String:
		f.kind = kString
	case reflect.Int, reflect.Int64:
		f.kind = kInt
	case reflect.Bool:
		f.kind = kBool
	case reflect.Struct:
		f.kind, f.plan = kStruct, newPlan(t)
		return f, f.plan != nil
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 { // []byte is base64
			return f, false
		}
		elem, ok := newField(t.Elem())
		f.kind, f.elem = kSlice, &elem
		return f, ok
	default:
		return f, false
	}
	return f, true
}

func plainKey(s string) bool {
	for i := 0; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '_') {
			return false
		}
	}
	return s != ""
}

// decode sets v (an addressable struct) from raw and reports whether raw
// was the canonical form of the value it now holds.
func (p *plan) decode(raw []byte, v reflect.Value) bool {
	d := planDecoder{b: raw, s: string(raw)}
	return d.object(p, v) && d.i == len(raw)
}

type planDecoder struct {
	b []byte
	s string // b as a string: decoded strings are its substrings
	i int
}

func (d *planDecoder) lit(s string) bool {
	if strings.HasPrefix(d.s[d.i:], s) {
		d.i += len(s)
		return true
	}
	return false
}

func (d *planDecoder) object(p *plan, v reflect.Value) bool {
	if !d.lit("{") {
		return false
	}
	first := true
	for _, f := range p.fields {
		at := d.i
		if !first && !d.lit(",") {
			if f.omitEmpty {
				continue
			}
			return false
		}
		if !d.lit(f.key) {
			if f.omitEmpty {
				d.i = at
				continue
			}
			return false
		}
		fv := v.Field(f.index)
		if !d.value(&f, fv) || (f.omitEmpty && fv.IsZero()) || (f.omitEmpty && f.kind == kSlice && fv.Len() == 0) {
			return false
		}
		first = false
	}
	return d.lit("}")
}

func (d *planDecoder) value(f *planField, v reflect.Value) bool {
	switch f.kind {
	case kString:
		s, ok := d.str()
		v.SetString(s)
		return ok
	case kInt:
		return d.int(v)
	case kBool:
		switch {
		case d.lit("true"):
			v.SetBool(true)
		case d.lit("false"):
		default:
			return false
		}
		return true
	case kTime:
		start := d.i
		if _, ok := d.str(); !ok {
			return false
		}
		q := d.b[start:d.i]
		var t time.Time
		if t.UnmarshalJSON(q) != nil {
			return false
		}
		if back, err := t.MarshalJSON(); err != nil || !bytes.Equal(back, q) {
			return false
		}
		v.Set(reflect.ValueOf(t))
		return true
	case kStruct:
		return d.object(f.plan, v)
	case kSlice:
		if d.lit("null") {
			return true
		}
		if !d.lit("[") {
			return false
		}
		s := reflect.MakeSlice(f.typ, 0, 4)
		for n := 0; !d.lit("]"); n++ {
			if n > 0 && !d.lit(",") {
				return false
			}
			s = reflect.Append(s, reflect.Zero(f.typ.Elem()))
			if !d.value(f.elem, s.Index(n)) {
				return false
			}
		}
		v.Set(s)
		return true
	}
	return false
}

// str reads a string json.Marshal writes verbatim: no escapes, no control
// bytes, no <, > or &, valid UTF-8 without U+2028 or U+2029.
func (d *planDecoder) str() (string, bool) {
	if !d.lit(`"`) {
		return "", false
	}
	start, ascii := d.i, true
	for j := start; j < len(d.s); j++ {
		b := d.s[j]
		switch {
		case b == '"':
			d.i = j + 1
			s := d.s[start:j]
			if !ascii && (!utf8.ValidString(s) || strings.Contains(s, "\u2028") || strings.Contains(s, "\u2029")) {
				return "", false
			}
			return s, true
		case b >= 0x80:
			ascii = false
		case !safe(b):
			return "", false
		}
	}
	return "", false
}

// int reads a decimal as json.Marshal writes it: no leading zeros, no
// "-0", no fraction or exponent.
func (d *planDecoder) int(v reflect.Value) bool {
	j := d.i
	if j < len(d.s) && d.s[j] == '-' {
		j++
	}
	digits := j
	for j < len(d.s) && d.s[j] >= '0' && d.s[j] <= '9' {
		j++
	}
	s := d.s[d.i:j]
	switch {
	case j == digits, d.s[digits] == '0' && (j-digits > 1 || digits > d.i):
		return false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v.OverflowInt(n) {
		return false
	}
	v.SetInt(n)
	d.i = j
	return true
}

// encode appends the canonical JSON of v (a struct of plan p) to b, the
// same bytes json.Marshal writes.
func (p *plan) encode(b []byte, v reflect.Value) ([]byte, error) {
	b = append(b, '{')
	first := true
	for _, f := range p.fields {
		fv := v.Field(f.index)
		if f.omitEmpty && (fv.IsZero() || f.kind == kSlice && fv.Len() == 0) {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = append(b, f.key...)
		var err error
		if b, err = f.encode(b, fv); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

func (f *planField) encode(b []byte, v reflect.Value) ([]byte, error) {
	switch f.kind {
	case kString:
		return appendString(b, v.String()), nil
	case kInt:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case kBool:
		return strconv.AppendBool(b, v.Bool()), nil
	case kTime:
		t, err := v.Interface().(time.Time).MarshalJSON()
		return append(b, t...), err
	case kStruct:
		return f.plan.encode(b, v)
	case kSlice:
		if v.IsNil() {
			return append(b, "null"...), nil
		}
		b = append(b, '[')
		for i := range v.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = f.elem.encode(b, v.Index(i)); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	}
	panic("events: plan field of unknown kind")
}

// appendString appends s quoted as json.Marshal writes it.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if !safe(s[i]) {
			q, _ := json.Marshal(s) // a string always marshals
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
