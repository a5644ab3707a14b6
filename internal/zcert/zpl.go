package zcert

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
)

// zplNode is one name (and value) of a ZPL tree; the root has no name.
type zplNode struct {
	name, value string
	line        int
	children    []*zplNode
}

// child returns the named child, or an error when it is missing or appears
// twice (czmq would take the first; two public keys in one file is a
// mistake worth saying).
func (n *zplNode) child(name string) (*zplNode, error) {
	var found *zplNode
	for _, c := range n.children {
		if c.name != name {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%q appears twice, at lines %d and %d", n.path(name), found.line, c.line)
		}
		found = c
	}
	return found, nil
}

func (n *zplNode) path(name string) string {
	if n.name == "" {
		return name
	}
	return n.name + "/" + name
}

// parseZPL reads ZPL as czmq's zconfig does (so a file it loads loads here,
// and a file it refuses is refused here): lines indented by multiples of 4
// spaces, "name", "name = value", "name = "quoted value"" or 'quoted',
// comments from # (whole lines, or after a value), blank lines. Unlike
// zconfig it also refuses NUL bytes, which zconfig would silently cut the
// line at.
func parseZPL(data []byte) (*zplNode, error) {
	if i := bytes.IndexByte(data, 0); i >= 0 {
		return nil, fmt.Errorf("not a ZPL text file: it holds a NUL byte at offset %d", i)
	}
	root := &zplNode{}
	stack := []*zplNode{root} // stack[d] is the latest node at depth d
	for i, raw := range strings.Split(string(data), "\n") {
		lineno := i + 1
		line := strings.TrimRight(raw, " \t\r\v\f")
		rest := strings.TrimLeft(line, " ")
		indent := len(line) - len(rest)
		if indent%4 != 0 {
			return nil, fmt.Errorf("line %d: indented by %d spaces: ZPL indents by 4 at a time", lineno, indent)
		}
		level := indent / 4
		n := 0
		for n < len(rest) && isNameChar(rest[n]) {
			n++
		}
		name, rest := rest[:n], rest[n:]
		if name == "" {
			if err := endOfLine(rest); err != nil {
				return nil, fmt.Errorf("line %d: %v", lineno, err)
			}
			continue
		}
		if name[0] == '/' || name[len(name)-1] == '/' {
			return nil, fmt.Errorf("line %d: name %q may not start or end with '/'", lineno, name)
		}
		value, err := parseValue(rest)
		if err != nil {
			return nil, fmt.Errorf("line %d: %v", lineno, err)
		}
		if level >= len(stack) {
			return nil, fmt.Errorf("line %d: %q is indented %d levels, deeper than the section it would belong to", lineno, name, level)
		}
		node := &zplNode{name: name, value: value, line: lineno}
		parent := stack[level]
		parent.children = append(parent.children, node)
		stack = append(stack[:level+1], node)
	}
	return root, nil
}

// isNameChar is zconfig's set of characters a name may hold.
func isNameChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
		strings.IndexByte("$-_@.&+/", c) >= 0
}

// endOfLine accepts what may follow a name or a value: spaces and a comment.
func endOfLine(rest string) error {
	rest = strings.TrimLeft(rest, " \t\r\v\f")
	if rest == "" || rest[0] == '#' {
		return nil
	}
	// The text is not quoted back: in a secret file it may be the key.
	return errors.New("unexpected text: not ZPL (a line is a name, name = value, or a # comment)")
}

// parseValue reads what follows a name: nothing, or "= value".
func parseValue(rest string) (string, error) {
	rest = strings.TrimLeft(rest, " \t\r\v\f")
	if rest == "" || rest[0] != '=' {
		return "", endOfLine(rest)
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\v\f")
	if rest != "" && (rest[0] == '"' || rest[0] == '\'') {
		end := strings.IndexByte(rest[1:], rest[0])
		if end < 0 {
			return "", fmt.Errorf("the value has no closing %c", rest[0])
		}
		return rest[1 : 1+end], endOfLine(rest[2+end:])
	}
	if hash := strings.IndexByte(rest, '#'); hash >= 0 {
		rest = strings.TrimRight(rest[:hash], " \t\r\v\f")
	}
	return rest, nil
}
