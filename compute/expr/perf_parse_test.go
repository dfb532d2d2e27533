package expr

import (
	"strings"
	"testing"
)

// Deeply nested and long inputs parse (or fail cleanly) without blowing up.
func TestParseDeepInputs(t *testing.T) {
	for _, tc := range []struct {
		src string
		ok  bool
	}{
		{strings.Repeat("(", 200) + "1" + strings.Repeat(")", 200), true},
		{strings.Repeat("(", 200) + "1", false},
		{strings.Repeat("NOT ", 201) + "TRUE", true},
		{strings.Repeat("-", 200) + "1", true},
		{strings.Repeat("price + ", 500) + "1", true},
		{strings.Repeat("abs(", 100) + "price" + strings.Repeat(")", 100), true},
		{strings.Repeat("CASE WHEN TRUE THEN ", 50) + "1" + strings.Repeat(" END", 50), true},
	} {
		_, err := Compile(tc.src, bidSchema)
		if (err == nil) != tc.ok {
			t.Errorf("Compile(%.40q...): %v, want ok=%v", tc.src, err, tc.ok)
		}
	}
}
