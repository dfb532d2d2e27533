package expr

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// parseTemporal parses a timestamp or date literal/value leniently:
// 'yyyy-MM-dd', 'yyyy-MM-dd HH:mm', 'yyyy-MM-dd HH:mm:ss[.fffffffff]', the
// same with a 'T' separator, and RFC 3339 with a zone offset.
func parseTemporal(s string, t arrow.DataType) (scalar, error) {
	s = strings.TrimSpace(s)
	var tm time.Time
	var err error
	for _, layout := range [...]string{"2006-01-02 15:04:05", time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02 15:04", "2006-01-02T15:04", "2006-01-02"} {
		if tm, err = time.Parse(layout, s); err == nil {
			break
		}
	}
	if err != nil {
		return scalar{}, fmt.Errorf("%w: %q is not a timestamp (want yyyy-MM-dd[ HH:mm[:ss[.fff]]])", ErrInvalidValue, s)
	}
	if t.ID() == arrow.DATE32 {
		return scalar{i: floorDiv(tm.Unix(), 86400)}, nil
	}
	v, ok := timeToTS(t, tm)
	if !ok {
		return scalar{}, fmt.Errorf("%w: %q is out of range for %s", ErrInvalidValue, s, t)
	}
	return scalar{i: v}, nil
}

// formatTS renders a timestamp as 'yyyy-MM-dd HH:mm:ss' with as many
// fraction digits as the unit has.
func formatTS(b []byte, t arrow.DataType, v int64) []byte {
	tm := tsTime(t, v)
	switch tsUnit(t) {
	case arrow.Second:
		return tm.AppendFormat(b, "2006-01-02 15:04:05")
	case arrow.Millisecond:
		return tm.AppendFormat(b, "2006-01-02 15:04:05.000")
	case arrow.Microsecond:
		return tm.AppendFormat(b, "2006-01-02 15:04:05.000000")
	}
	return tm.AppendFormat(b, "2006-01-02 15:04:05.000000000")
}

// jtok is one token of a Java DateTimeFormatter / SimpleDateFormat pattern:
// a run of n copies of pattern letter c, or literal text when c == 0.
type jtok struct {
	c   byte
	n   int
	lit string
}

// parseJavaPattern supports the letters y M d H h m s S a E and quoted
// literal text (in single quotes, a doubled quote standing for one).
func parseJavaPattern(p string) ([]jtok, error) {
	var toks []jtok
	for i := 0; i < len(p); {
		ch := p[i]
		switch {
		case ch == '\'':
			j := i + 1
			var lit strings.Builder
			for {
				if j >= len(p) {
					return nil, fmt.Errorf("unterminated quote in pattern %q", p)
				}
				if p[j] == '\'' {
					if j+1 < len(p) && p[j+1] == '\'' {
						lit.WriteByte('\'')
						j += 2
						continue
					}
					break
				}
				lit.WriteByte(p[j])
				j++
			}
			if j == i+1 {
				lit.WriteByte('\'') // '' outside quotes is a quote
			}
			toks = append(toks, jtok{lit: lit.String()})
			i = j + 1
		case strings.IndexByte("yMdHhmsSaE", ch) >= 0:
			j := i
			for j < len(p) && p[j] == ch {
				j++
			}
			if ch == 'S' && j-i > 9 {
				return nil, fmt.Errorf("too many S in pattern %q", p)
			}
			toks = append(toks, jtok{c: ch, n: j - i})
			i = j
		case ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z':
			return nil, fmt.Errorf("unsupported pattern letter %q in %q (supported: y M d H h m s S a E)", ch, p)
		default:
			toks = append(toks, jtok{lit: p[i : i+1]})
			i++
		}
	}
	return toks, nil
}

func appendPadded(b []byte, v int, width int) []byte {
	var tmp [20]byte
	s := strconv.AppendInt(tmp[:0], int64(v), 10)
	for k := len(s); k < width; k++ {
		b = append(b, '0')
	}
	return append(b, s...)
}

var pow10 = [...]int{1, 10, 100, 1000, 10000, 100000, 1000000, 10000000, 100000000, 1000000000}

func appendJava(b []byte, toks []jtok, tm time.Time) []byte {
	for _, t := range toks {
		switch t.c {
		case 0:
			b = append(b, t.lit...)
		case 'y':
			if t.n == 2 {
				b = appendPadded(b, tm.Year()%100, 2)
			} else {
				b = appendPadded(b, tm.Year(), t.n)
			}
		case 'M':
			switch {
			case t.n == 3:
				b = append(b, tm.Month().String()[:3]...)
			case t.n > 3:
				b = append(b, tm.Month().String()...)
			default:
				b = appendPadded(b, int(tm.Month()), t.n)
			}
		case 'd':
			b = appendPadded(b, tm.Day(), t.n)
		case 'H':
			b = appendPadded(b, tm.Hour(), t.n)
		case 'h':
			h := tm.Hour() % 12
			if h == 0 {
				h = 12
			}
			b = appendPadded(b, h, t.n)
		case 'm':
			b = appendPadded(b, tm.Minute(), t.n)
		case 's':
			b = appendPadded(b, tm.Second(), t.n)
		case 'S':
			b = appendPadded(b, tm.Nanosecond()/pow10[9-t.n], t.n)
		case 'a':
			if tm.Hour() < 12 {
				b = append(b, "AM"...)
			} else {
				b = append(b, "PM"...)
			}
		case 'E':
			if t.n <= 3 {
				b = append(b, tm.Weekday().String()[:3]...)
			} else {
				b = append(b, tm.Weekday().String()...)
			}
		}
	}
	return b
}

var errNoMatch = errors.New("does not match the pattern")

func isDigitTok(t jtok) bool {
	return t.c != 0 && t.c != 'a' && t.c != 'E' && !(t.c == 'M' && t.n >= 3)
}

// parseJava parses s with a pattern from parseJavaPattern (UTC).
func parseJava(s string, toks []jtok) (time.Time, error) {
	year, month, day, hour, minute, sec, nsec := 1970, 1, 1, 0, 0, 0, 0
	pm, hasAmPm := false, false
	pos := 0
	for ti, t := range toks {
		if t.c == 0 {
			if !strings.HasPrefix(s[pos:], t.lit) {
				return time.Time{}, errNoMatch
			}
			pos += len(t.lit)
			continue
		}
		switch {
		case t.c == 'a':
			switch {
			case strings.HasPrefix(strings.ToUpper(s[pos:min(pos+2, len(s))]), "AM"):
			case strings.HasPrefix(strings.ToUpper(s[pos:min(pos+2, len(s))]), "PM"):
				pm = true
			default:
				return time.Time{}, errNoMatch
			}
			hasAmPm = true
			pos += 2
			continue
		case t.c == 'E' || t.c == 'M' && t.n >= 3:
			j := pos
			for j < len(s) && (s[j] >= 'a' && s[j] <= 'z' || s[j] >= 'A' && s[j] <= 'Z') {
				j++
			}
			word := strings.ToLower(s[pos:j])
			if word == "" {
				return time.Time{}, errNoMatch
			}
			if t.c == 'M' {
				found := false
				for m := time.January; m <= time.December; m++ {
					name := strings.ToLower(m.String())
					if word == name || word == name[:3] {
						month, found = int(m), true
					}
				}
				if !found {
					return time.Time{}, errNoMatch
				}
			}
			pos = j
			continue
		}
		maxDigits := 9
		if ti+1 < len(toks) && isDigitTok(toks[ti+1]) {
			maxDigits = t.n // adjacent numbers: fixed width
		} else if t.c != 'y' && t.c != 'S' {
			maxDigits = max(t.n, 2)
		}
		j := pos
		for j < len(s) && j-pos < maxDigits && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j == pos {
			return time.Time{}, errNoMatch
		}
		v, _ := strconv.Atoi(s[pos:j])
		switch t.c {
		case 'y':
			year = v
			if t.n == 2 && j-pos == 2 {
				year = 2000 + v
			}
		case 'M':
			month = v
		case 'd':
			day = v
		case 'H', 'h':
			hour = v
		case 'm':
			minute = v
		case 's':
			sec = v
		case 'S':
			nsec = v * pow10[9-(j-pos)]
		}
		pos = j
	}
	if pos != len(s) {
		return time.Time{}, errNoMatch
	}
	if hasAmPm {
		if hour < 1 || hour > 12 {
			return time.Time{}, errNoMatch
		}
		hour %= 12
		if pm {
			hour += 12
		}
	}
	if month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, errNoMatch
	}
	tm := time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC)
	if tm.Day() != day {
		return time.Time{}, errNoMatch // e.g. February 30
	}
	return tm, nil
}
