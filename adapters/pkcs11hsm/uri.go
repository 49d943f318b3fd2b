package pkcs11hsm

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// URI is the subset of a PKCS#11 URI (RFC 7512) this adapter understands.
// An empty field was not given and matches anything.
type URI struct {
	// Path attributes: which token.
	Token        string // token label
	Serial       string // token serial number
	Manufacturer string // token manufacturer id
	Model        string // token model
	SlotID       uint   // slot id, when HasSlotID
	HasSlotID    bool

	// Query attributes: how to reach it.
	ModulePath string // path of the PKCS#11 module
	PINSource  string // path of a file holding the PIN (from pin-source=file:...)
}

const uriScheme = "pkcs11:"

// IsURI reports whether s is written as a PKCS#11 URI rather than a plain
// token label or serial.
func IsURI(s string) bool {
	return len(s) >= len(uriScheme) && strings.EqualFold(s[:len(uriScheme)], uriScheme)
}

// ParseURI parses a PKCS#11 URI such as
//
//	pkcs11:token=ceremony;serial=abc?module-path=/usr/lib/softhsm/libsofthsm2.so
//
// Path attributes: token, serial, manufacturer, model, slot-id. Query
// attributes: module-path, pin-source (file: only). Values are
// percent-decoded. Any other attribute is an error naming it, and so is
// pin-value: a PIN is never taken from a URI.
func ParseURI(s string) (URI, error) {
	var u URI
	if !IsURI(s) {
		return u, fmt.Errorf("%w: %q does not start with %q", ErrURI, redactURI(s), uriScheme)
	}
	rest := s[len(uriScheme):]
	if strings.Contains(rest, "#") {
		return u, fmt.Errorf("%w: a PKCS#11 URI has no fragment (#); percent-encode '#' as %%23", ErrURI)
	}
	path, query, _ := strings.Cut(rest, "?")

	pathAttrs, err := splitAttributes(path, ";")
	if err != nil {
		return u, err
	}
	queryAttrs, err := splitAttributes(query, "&")
	if err != nil {
		return u, err
	}
	if _, ok := queryAttrs["pin-value"]; ok {
		return u, fmt.Errorf("%w: pin-value is refused: a PIN in a URI ends up in shell history, process lists and logs; "+
			"give the PIN with pin-source=file:/path in the URI, or --pin-file / --pin-env", ErrURI)
	}
	if _, ok := pathAttrs["pin-value"]; ok {
		return u, fmt.Errorf("%w: pin-value is refused (and belongs in the query, not the path): "+
			"give the PIN with pin-source=file:/path in the URI, or --pin-file / --pin-env", ErrURI)
	}

	var unknown []string
	for name, value := range pathAttrs {
		switch name {
		case "token":
			u.Token = value
		case "serial":
			u.Serial = value
		case "manufacturer":
			u.Manufacturer = value
		case "model":
			u.Model = value
		case "slot-id":
			id, err := strconv.ParseUint(value, 10, 64)
			if err != nil {
				return u, fmt.Errorf("%w: slot-id %q is not a decimal number", ErrURI, value)
			}
			u.SlotID, u.HasSlotID = uint(id), true
		default:
			unknown = append(unknown, name)
		}
	}
	for name, value := range queryAttrs {
		switch name {
		case "module-path":
			u.ModulePath = value
		case "pin-source":
			p, err := pinSourcePath(value)
			if err != nil {
				return u, err
			}
			u.PINSource = p
		default:
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return u, fmt.Errorf("%w: unsupported attribute(s) %s; this adapter knows token, serial, manufacturer, model, slot-id "+
			"and, after '?', module-path and pin-source", ErrURI, strings.Join(unknown, ", "))
	}
	return u, nil
}

// splitAttributes splits "a=1;b=2" (or "a=1&b=2") into a map of
// percent-decoded values. Repeated and empty attributes are errors.
func splitAttributes(s, sep string) (map[string]string, error) {
	attrs := map[string]string{}
	if s == "" {
		return attrs, nil
	}
	for _, part := range strings.Split(s, sep) {
		name, raw, ok := strings.Cut(part, "=")
		if !ok || name == "" {
			return nil, fmt.Errorf("%w: %q is not an attribute=value pair", ErrURI, redactPart(part))
		}
		if name == "pin-value" {
			attrs[name] = "" // never decoded, never echoed
			continue
		}
		value, err := url.PathUnescape(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: attribute %s: bad percent-encoding in %q", ErrURI, name, raw)
		}
		if value == "" {
			return nil, fmt.Errorf("%w: attribute %s has an empty value; leave it out to match any", ErrURI, name)
		}
		if _, dup := attrs[name]; dup {
			return nil, fmt.Errorf("%w: attribute %s is given twice", ErrURI, name)
		}
		attrs[name] = value
	}
	return attrs, nil
}

// pinSourcePath turns "file:/path", "file:///path" into "/path". Other
// schemes (commands, environment) are refused.
func pinSourcePath(v string) (string, error) {
	var p string
	switch {
	case strings.HasPrefix(v, "file://"):
		p = strings.TrimPrefix(v, "file://")
	case strings.HasPrefix(v, "file:"):
		p = strings.TrimPrefix(v, "file:")
	default:
		return "", fmt.Errorf("%w: pin-source %q: only file: sources are accepted (pin-source=file:/path/to/pin)", ErrURI, v)
	}
	if p == "" {
		return "", fmt.Errorf("%w: pin-source %q names no file", ErrURI, v)
	}
	return p, nil
}

// redactURI drops everything after a pin-value so an error never echoes it.
func redactURI(s string) string {
	if i := strings.Index(s, "pin-value"); i >= 0 {
		return s[:i] + "pin-value=…"
	}
	return s
}

func redactPart(part string) string {
	if strings.HasPrefix(part, "pin-value") {
		return "pin-value=…"
	}
	return part
}

// formatTokenName is the default name of an HSM in events:
// "pkcs11:token=<label>", the label percent-encoded.
func formatTokenName(label string) string {
	return uriScheme + "token=" + url.PathEscape(label)
}
