package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strconv"
	"strings"
	"unicode/utf8"
)

// encoding/json cannot do what operators need here: it ignores unknown keys
// (or reports only the first), matches keys case-insensitively, stops at the
// first type error and names Go types. So the file is first read into a tree
// of JSON values, which is then walked against the Config type by reflection:
// every key is checked against the json tags of the struct at that level, and
// every problem is collected with its key path.

// FieldError is a problem with the value at one key path, e.g.
// "payments.denomination: must be > 0".
type FieldError struct {
	Path    string // "payments.denomination", "daemons[1].port", "ports.3333.diff"
	Problem string
}

func (e *FieldError) Error() string {
	if e.Path == "" {
		return e.Problem
	}
	return e.Path + ": " + e.Problem
}

// UnknownKeyError is a key that the configuration does not have.
type UnknownKeyError struct {
	Path       string   // full path of the unknown key
	Suggestion string   // nearest known key at that level, or ""
	Known      []string // the known keys at that level
}

func (e *UnknownKeyError) Error() string {
	if e.Suggestion != "" {
		return fmt.Sprintf("unknown key %q (did you mean %q?)", e.Path, e.Suggestion)
	}
	return fmt.Sprintf("unknown key %q (known keys here: %s)", e.Path, strings.Join(e.Known, ", "))
}

// SyntaxError is malformed JSON, with a 1-based position.
type SyntaxError struct {
	Line, Column int
	Msg          string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Column, e.Msg)
}

type jsonKind int

const (
	kindNull jsonKind = iota
	kindBool
	kindNumber
	kindString
	kindObject
	kindArray
)

func (k jsonKind) String() string {
	return [...]string{"null", "boolean", "number", "string", "object", "array"}[k]
}

// node is one JSON value. Objects keep their members in file order so that
// errors come out in the order an operator reads the file.
type node struct {
	kind  jsonKind
	text  string // string value, or the number literal as written
	b     bool
	keys  []string // object member names
	elems []*node  // object member values (parallel to keys), or array elements
}

// member returns the value of an object member, or nil.
func (n *node) member(key string) *node {
	for i, k := range n.keys {
		if k == key {
			return n.elems[i]
		}
	}
	return nil
}

// parseJSON reads one JSON value, reporting syntax errors by line and column.
func parseJSON(data []byte) (*node, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf")) // editors on Windows add a BOM
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("the configuration is empty")
	}
	// json.Unmarshal checks the whole input before decoding and reports the
	// position of the offending byte exactly (json.Decoder's positions are
	// approximate), so syntax is checked first and the tree built after.
	var raw json.RawMessage
	if err := json.Unmarshal(data, &raw); err != nil {
		var se *json.SyntaxError
		if !errors.As(err, &se) {
			return nil, err
		}
		if strings.HasPrefix(se.Error(), "unexpected end of JSON input") {
			end := int64(len(bytes.TrimRight(data, " \t\r\n")))
			return nil, positionError(data, end, "unexpected end of file (a missing closing brace or bracket?)")
		}
		return nil, positionError(data, se.Offset-1, se.Error()+syntaxHint(se.Error()))
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	return readValue(dec)
}

// syntaxHint explains the two mistakes people make most in JSON written by
// hand: a comma after the last member, and comments.
func syntaxHint(msg string) string {
	switch {
	case strings.HasPrefix(msg, "invalid character '}' looking for beginning of object key"),
		strings.HasPrefix(msg, "invalid character ']' looking for beginning of value"):
		return " (JSON allows no comma after the last item)"
	case strings.HasPrefix(msg, "invalid character '/'"), strings.HasPrefix(msg, "invalid character '#'"):
		return " (JSON has no comments; docs/configuration.md documents the keys)"
	}
	return ""
}

// readValue builds the tree of an input already known to be valid JSON.
func readValue(dec *json.Decoder) (*node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &node{kind: kindNull}, nil
	case bool:
		return &node{kind: kindBool, b: t}, nil
	case json.Number:
		return &node{kind: kindNumber, text: string(t)}, nil
	case string:
		return &node{kind: kindString, text: t}, nil
	}
	n := &node{kind: kindArray}
	if tok == json.Delim('{') {
		n.kind = kindObject
	}
	for dec.More() {
		if n.kind == kindObject {
			key, err := dec.Token()
			if err != nil {
				return nil, err
			}
			n.keys = append(n.keys, key.(string)) // the decoder only returns string keys here
		}
		v, err := readValue(dec)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, v)
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, err
	}
	return n, nil
}

// positionError converts a byte offset into a 1-based line and column
// (counted in characters, as editors show it).
func positionError(data []byte, off int64, msg string) error {
	off = min(max(off, 0), int64(len(data)))
	before := data[:off]
	line := bytes.Count(before, []byte("\n")) + 1
	col := utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
	return &SyntaxError{Line: line, Column: col, Msg: msg}
}

// defaulter is implemented by element types that need defaults of their own
// when the decoder creates them (entries of arrays, maps and pointers).
type defaulter interface{ setDefaults() }

type decoder struct {
	errs []error
	// quiet holds paths whose validation problems would only be noise: the
	// value failed to decode (so the default stayed), or was derived from
	// another key that gets its own message.
	quiet   map[string]bool
	present map[string]bool // paths given a non-null value in the file
}

func newDecoder() *decoder {
	return &decoder{quiet: map[string]bool{}, present: map[string]bool{}}
}

// isQuiet tells whether path or one of the paths containing it is quiet.
func (d *decoder) isQuiet(path string) bool {
	for {
		if d.quiet[path] {
			return true
		}
		i := strings.LastIndexAny(path, ".[")
		if i < 0 {
			return false
		}
		path = path[:i]
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (d *decoder) fail(path, format string, args ...any) {
	d.errs = append(d.errs, &FieldError{Path: path, Problem: fmt.Sprintf(format, args...)})
	d.quiet[path] = true
}

func (d *decoder) wrongType(path, want string, n *node) {
	d.fail(path, "expected %s, got %s", want, n.kind)
}

// decode stores n into v. null leaves v as it is: an explicit null means
// "unset", i.e. keep the default.
func (d *decoder) decode(n *node, v reflect.Value, path string) {
	if n.kind == kindNull {
		return
	}
	d.present[path] = true
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, path)
	case reflect.Map:
		d.decodeMap(n, v, path)
	case reflect.Slice:
		d.decodeSlice(n, v, path)
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(newElem(v.Type().Elem()).Addr())
		}
		d.decode(n, v.Elem(), path)
	case reflect.String:
		if n.kind != kindString {
			d.wrongType(path, "a string", n)
			return
		}
		v.SetString(n.text)
	case reflect.Bool:
		if n.kind != kindBool {
			d.wrongType(path, "true or false", n)
			return
		}
		v.SetBool(n.b)
	case reflect.Float64:
		if n.kind != kindNumber {
			d.wrongType(path, "a number", n)
			return
		}
		f, err := strconv.ParseFloat(n.text, 64)
		if err != nil || math.IsInf(f, 0) {
			d.fail(path, "number %s is out of range", n.text)
			return
		}
		v.SetFloat(f)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		d.decodeInteger(n, v, path)
	default:
		panic("config: no decoder for " + v.Type().String()) // a programming error in the Config types
	}
}

func newElem(t reflect.Type) reflect.Value {
	e := reflect.New(t)
	if df, ok := e.Interface().(defaulter); ok {
		df.setDefaults()
	}
	return e.Elem()
}

func (d *decoder) decodeStruct(n *node, v reflect.Value, path string) {
	if n.kind != kindObject {
		d.wrongType(path, "an object", n)
		return
	}
	fields, names := jsonFields(v.Type())
	seen := map[string]bool{}
	for i, key := range n.keys {
		kp := joinPath(path, key)
		idx, ok := fields[key]
		if !ok {
			d.errs = append(d.errs, &UnknownKeyError{Path: kp, Suggestion: nearest(key, names), Known: names})
			continue
		}
		if d.duplicate(seen, key, kp) {
			continue
		}
		d.decode(n.elems[i], v.Field(idx), kp)
	}
}

// duplicate reports a key given twice in one object: encoding/json would
// silently keep the last one, hiding an edit that was meant to count.
func (d *decoder) duplicate(seen map[string]bool, key, path string) bool {
	if seen[key] {
		d.fail(path, "key appears more than once in the same object")
		return true
	}
	seen[key] = true
	return false
}

func (d *decoder) decodeMap(n *node, v reflect.Value, path string) {
	if n.kind != kindObject {
		d.wrongType(path, "an object", n)
		return
	}
	if v.IsNil() {
		v.Set(reflect.MakeMap(v.Type()))
	}
	seen := map[string]bool{}
	for i, key := range n.keys {
		kp := joinPath(path, key)
		if d.duplicate(seen, key, kp) {
			continue
		}
		e := newElem(v.Type().Elem())
		d.decode(n.elems[i], e, kp)
		v.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), e)
	}
}

func (d *decoder) decodeSlice(n *node, v reflect.Value, path string) {
	if n.kind != kindArray {
		d.wrongType(path, "an array", n)
		return
	}
	s := reflect.MakeSlice(v.Type(), 0, len(n.elems))
	for i, en := range n.elems {
		e := newElem(v.Type().Elem())
		d.decode(en, e, fmt.Sprintf("%s[%d]", path, i))
		s = reflect.Append(s, e)
	}
	v.Set(s)
}

// decodeInteger accepts any JSON number whose value is a whole number in the
// field's range, so "1e8" works for 100000000 and "1.5" is refused.
func (d *decoder) decodeInteger(n *node, v reflect.Value, path string) {
	if n.kind != kindNumber {
		d.wrongType(path, "a number", n)
		return
	}
	x, ok := integerValue(n.text)
	if !ok {
		d.fail(path, "expected a whole number, got %s", n.text)
		return
	}
	bits := v.Type().Bits()
	var lo, hi *big.Int
	if v.CanUint() {
		lo, hi = new(big.Int), new(big.Int).SetUint64(math.MaxUint64>>(64-bits))
	} else {
		hi = new(big.Int).SetInt64(math.MaxInt64 >> (64 - bits))
		lo = new(big.Int).Sub(new(big.Int).Neg(hi), big.NewInt(1))
	}
	if x.Cmp(lo) < 0 || x.Cmp(hi) > 0 {
		d.fail(path, "expected a whole number from %s to %s, got %s", lo, hi, n.text)
		return
	}
	if v.CanUint() {
		v.SetUint(x.Uint64())
	} else {
		v.SetInt(x.Int64())
	}
}

// integerValue is the exact value of a JSON number literal if it is whole.
func integerValue(lit string) (*big.Int, bool) {
	if x, ok := new(big.Int).SetString(lit, 10); ok {
		return x, true
	}
	// A huge exponent would make big.Rat allocate without bound; anything
	// past 1e30 is out of every integer field's range anyway.
	if i := strings.IndexAny(lit, "eE"); i >= 0 {
		exp, err := strconv.Atoi(lit[i+1:])
		if err != nil || exp > 30 {
			return new(big.Int).Exp(big.NewInt(10), big.NewInt(31), nil), true
		}
		if exp < -30 {
			return nil, false
		}
	}
	r, ok := new(big.Rat).SetString(lit)
	if !ok || !r.IsInt() {
		return nil, false
	}
	return r.Num(), true
}

// jsonFields maps a struct's json key names to field indexes; names lists
// the keys in declaration order (for suggestions and help text).
func jsonFields(t reflect.Type) (map[string]int, []string) {
	fields := map[string]int{}
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || name == "" {
			continue
		}
		fields[name] = i
		names = append(names, name)
	}
	return fields, names
}

// nearest returns the known key closest to key, or "" if none is close
// enough to be a plausible typo. A case-insensitive match always wins.
func nearest(key string, known []string) string {
	lk := strings.ToLower(key)
	best, bestDist := "", math.MaxInt
	for _, k := range known {
		dist := editDistance(lk, strings.ToLower(k))
		if dist < bestDist {
			best, bestDist = k, dist
		}
	}
	// Allow about one edit per three characters, at least two, but never so
	// many that a short key could turn into anything.
	limit := min(max(2, utf8.RuneCountInString(key)/3), utf8.RuneCountInString(key)-1)
	if bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the optimal string alignment distance: insertions,
// deletions, substitutions and transpositions of adjacent characters (the
// usual typo, "minPaymnet") each cost one.
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	// d[i][j] is the distance between ra[:i] and rb[:j].
	d := make([][]int, len(ra)+1)
	for i := range d {
		d[i] = make([]int, len(rb)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(ra); i++ {
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(ra)][len(rb)]
}
