// Package codeshape measures the library's functions: lines and
// cyclomatic complexity, for the test that keeps them small and for the
// figures quoted in docs and notes.
package codeshape

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Func is one function or method of a file.
type Func struct {
	// File and Name place it: "outbox/run.go", "(*Outbox).Run".
	File, Name string
	// Lines counts from its func keyword to its closing brace.
	Lines int
	// Complexity is 1 plus one per if, for, range, non-default case and
	// select clause, && and ||.
	Complexity int
	// Excused reports a "codeshape:" comment in its doc saying why it is
	// long or branchy.
	Excused bool
}

// Measure returns every function in the non-test Go files under root,
// skipping directories for which skip returns true (paths relative to
// root, slash-separated).
func Measure(root string, skip func(dir string) bool) ([]Func, error) {
	var out []Func
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			if rel != "." && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || skip(rel)) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
		if err != nil {
			return err
		}
		for _, decl := range f.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			out = append(out, Func{
				File:       rel,
				Name:       funcName(fn),
				Lines:      fset.Position(fn.End()).Line - fset.Position(fn.Pos()).Line + 1,
				Complexity: complexity(fn.Body),
				Excused:    fn.Doc != nil && strings.Contains(fn.Doc.Text(), "codeshape:"),
			})
		}
		return nil
	})
	return out, err
}

func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || len(fn.Recv.List) == 0 {
		return fn.Name.Name
	}
	t := fn.Recv.List[0].Type
	star := ""
	if s, ok := t.(*ast.StarExpr); ok {
		star, t = "*", s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if ix, ok := t.(*ast.IndexListExpr); ok {
		t = ix.X
	}
	name := "?"
	if id, ok := t.(*ast.Ident); ok {
		name = id.Name
	}
	return "(" + star + name + ")." + fn.Name.Name
}

// complexity counts the decisions in body, function literals included
// (they run as part of it).
func complexity(body ast.Node) int {
	n := 1
	ast.Inspect(body, func(x ast.Node) bool {
		switch x := x.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			n++
		case *ast.CaseClause:
			if x.List != nil {
				n++
			}
		case *ast.CommClause:
			if x.Comm != nil {
				n++
			}
		case *ast.BinaryExpr:
			if x.Op == token.LAND || x.Op == token.LOR {
				n++
			}
		}
		return true
	})
	return n
}
