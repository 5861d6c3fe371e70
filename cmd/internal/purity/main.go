// Command purity refuses, in the Go files it is given, what would make a
// replicated state machine nondeterministic: imports of os, net, math/rand
// and crypto/rand, and calls of time.Now, time.Since and time.Until. Every
// replica applies the same log; time must come from the entry's stamp and
// nothing may read the machine it runs on. make vet runs it over every
// non-test file of packages consensus/fsm and consensus/policy (PURE_FSM
// in the Makefile).
//
// Usage: purity FILE...
// It prints one line per finding, file:line, and exits 1 when there is any.
package main

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"strconv"
)

// refusedImport reports whether a pure file may not import path.
func refusedImport(path string) bool {
	switch path {
	case "os", "net", "math/rand", "math/rand/v2", "crypto/rand":
		return true
	}
	return false
}

// refusedTime reports whether fn, of package time, reads the clock.
func refusedTime(fn string) bool { return fn == "Now" || fn == "Since" || fn == "Until" }

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: purity FILE...")
		os.Exit(2)
	}
	found := 0
	for _, path := range os.Args[1:] {
		src, err := os.ReadFile(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "purity:", err)
			os.Exit(2)
		}
		findings, err := check(path, src)
		if err != nil {
			fmt.Fprintln(os.Stderr, "purity:", err)
			os.Exit(2)
		}
		for _, f := range findings {
			fmt.Println(f)
		}
		found += len(findings)
	}
	if found > 0 {
		fmt.Fprintf(os.Stderr, "purity: %d finding(s): the state machine must not read the machine it runs on\n", found)
		os.Exit(1)
	}
}

// check returns one "file:line: what" line per refused import or call in
// the Go source src.
func check(path string, src []byte) ([]string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.SkipObjectResolution)
	if err != nil {
		return nil, err
	}
	var out []string
	timeName := "" // the name package time has in this file
	for _, imp := range f.Imports {
		p, err := strconv.Unquote(imp.Path.Value)
		if err != nil {
			return nil, err
		}
		if refusedImport(p) {
			out = append(out, fmt.Sprintf("%s: imports %s", fset.Position(imp.Pos()), p))
		}
		if p == "time" {
			timeName = "time"
			if imp.Name != nil {
				timeName = imp.Name.Name
			}
		}
	}
	if timeName == "" || timeName == "_" {
		return out, nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		// A reference, called or not: a method value of time.Now reads the
		// clock as surely as a call.
		if id, ok := sel.X.(*ast.Ident); ok && id.Name == timeName && refusedTime(sel.Sel.Name) {
			out = append(out, fmt.Sprintf("%s: uses time.%s", fset.Position(sel.Pos()), sel.Sel.Name))
		}
		return true
	})
	return out, nil
}
