package part10

import "errors"

// ErrMalformed is wrapped by every error about bytes that came from a reader
// (feature list, properties, response) and cannot be decoded.
var ErrMalformed = errors.New("part10: malformed reader data")

// ErrInvalidParams is wrapped by every error about parameters refused before
// encoding; the message names the field.
var ErrInvalidParams = errors.New("part10: invalid parameters")
