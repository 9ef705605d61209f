// Package secret holds Secret, a string that never prints. It is a leaf
// package of its own because both sides need it: config decodes secrets
// from the file, and the clients that send them (wallet, storage, api)
// take them without importing config.
package secret

import (
	"fmt"
	"io"
)

const redacted = "[redacted]"

// Secret is a string that must not end up in logs, error messages or API
// output: every way of printing or marshalling it gives "[redacted]". Only
// the code that sends it (an HTTP header, an AUTH command) calls Reveal.
type Secret string

// Reveal returns the secret value.
func (s Secret) Reveal() string { return string(s) }

// IsSet tells whether a value was configured, without revealing it.
func (s Secret) IsSet() bool { return s != "" }

func (s Secret) String() string   { return redacted }
func (s Secret) GoString() string { return redacted }

// Format covers every fmt verb (%v, %+v, %#v, %s, %q, %x, ...), including
// when the Secret is a field of a struct being printed: %x on a string
// would otherwise print the bytes.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// MarshalJSON keeps secrets out of any JSON dump of the configuration. An
// unset secret stays "" so a dump still shows which ones are configured.
func (s Secret) MarshalJSON() ([]byte, error) {
	t, _ := s.MarshalText()
	return []byte(`"` + string(t) + `"`), nil
}

// MarshalText does the same for text encoders (slog, YAML, ...).
func (s Secret) MarshalText() ([]byte, error) {
	if s == "" {
		return nil, nil
	}
	return []byte(redacted), nil
}
