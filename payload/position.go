package payload

import (
	"regexp"
	"strings"

	"github.com/itchyny/gojq"
)

// position turns a byte offset into a 1-based line and column.
func position(src string, offset int) (line, col int) {
	offset = min(max(offset, 0), len(src))
	before := src[:offset]
	line = strings.Count(before, "\n") + 1
	col = offset - strings.LastIndex(before, "\n")
	return line, col
}

// tokenStart is where the token a parse error names begins: gojq gives
// the offset just past it.
func tokenStart(src string, pe *gojq.ParseError) int {
	if pe.Token != "" && pe.Offset <= len(src) && strings.HasSuffix(src[:pe.Offset], pe.Token) {
		return pe.Offset - len(pe.Token)
	}
	return pe.Offset
}

// undefinedName reads the name out of gojq's "function not defined:
// name/1" and "variable not defined: $name", which carry no position.
var undefinedName = regexp.MustCompile(`not defined: (\$?[A-Za-z_][A-Za-z0-9_]*(?:::[A-Za-z_][A-Za-z0-9_]*)*)`)

// undefinedAt finds where a compile error's undefined name is first used
// as a call or a variable: not as a field (.name), an object key or a
// definition (name:), nor inside a string literal or a comment.
func undefinedAt(src string, err error) (int, bool) {
	m := undefinedName.FindStringSubmatch(err.Error())
	if m == nil {
		return 0, false
	}
	name, code := m[1], codeMask(src)
	for at := strings.Index(src, name); at >= 0; {
		if used(src, code, at, name) {
			return at, true
		}
		next := strings.Index(src[at+1:], name)
		if next < 0 {
			break
		}
		at += 1 + next
	}
	return 0, false
}

// used says whether name at src[at:] is a use of it.
func used(src string, code []bool, at int, name string) bool {
	end := at + len(name)
	if !code[at] || end < len(src) && identByte(src[end]) {
		return false
	}
	if at > 0 && (identByte(src[at-1]) || src[at-1] == '.' || src[at-1] == '$' && name[0] != '$') {
		return false
	}
	rest := strings.TrimLeft(src[end:], " \t\r\n")
	return !strings.HasPrefix(rest, ":") || strings.HasPrefix(rest, "::")
}

func identByte(c byte) bool {
	return c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}

// codeMask marks the bytes of src that are code: not inside a string
// literal (whose \(...) interpolations are code again) or a comment.
func codeMask(src string) []bool {
	code := make([]bool, len(src))
	var interp []int // the paren depth at which each open interpolation ends
	depth, inString := 0, false
	for i := 0; i < len(src); i++ {
		c := src[i]
		if inString {
			switch {
			case c == '\\' && i+1 < len(src) && src[i+1] == '(':
				interp = append(interp, depth)
				depth++
				inString = false
				i++
			case c == '\\':
				i++
			case c == '"':
				inString = false
			}
			continue
		}
		code[i] = true
		switch c {
		case '"':
			code[i], inString = false, true
		case '#':
			for ; i < len(src) && src[i] != '\n'; i++ {
				code[i] = false
			}
		case '(':
			depth++
		case ')':
			depth--
			if n := len(interp); n > 0 && depth == interp[n-1] {
				interp = interp[:n-1]
				inString = true
			}
		}
	}
	return code
}
