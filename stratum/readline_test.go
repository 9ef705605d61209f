package stratum

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestReadLine: lines shorter and longer than the small read buffer come
// back whole and in order; a line over the limit is ErrBufferFull.
func TestReadLine(t *testing.T) {
	const max = 2000
	lines := []string{"a\n", strings.Repeat("b", 511) + "\n", strings.Repeat("c", 512) + "\n",
		strings.Repeat("d", 1500) + "\n", strings.Repeat("e", max-1) + "\n", "f\n"}
	r := bufio.NewReaderSize(strings.NewReader(strings.Join(lines, "")), 16)
	for i, want := range lines {
		got, err := readLine(r, max)
		if err != nil || string(got) != want {
			t.Fatalf("line %d: %d bytes, %v; want %d bytes", i, len(got), err, len(want))
		}
	}
	if _, err := readLine(r, max); err != io.EOF {
		t.Fatalf("after the last line: %v, want EOF", err)
	}
	r = bufio.NewReaderSize(strings.NewReader(strings.Repeat("x", max+1)+"\n"), 16)
	if _, err := readLine(r, max); !errors.Is(err, bufio.ErrBufferFull) {
		t.Fatalf("a line over the limit: %v, want ErrBufferFull", err)
	}
}
