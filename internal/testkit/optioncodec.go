package testkit

import (
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/imbridge/middleware"
)

// Codec is a backend's outbox.OptionCodec, named here without importing
// package outbox.
type Codec interface {
	EncodeOptions(extras []any) ([]byte, error)
	DecodeOptions(data []byte) (middleware.Option, error)
}

// OptionsStored checks that every option of the backend package in the
// current directory survives its codec on its own: each exported function
// returning a middleware.Option must be in opts (given with values that
// are not its default), must change what read finds, must be stored, and
// must read back the same after DecodeOptions. A new option that is not
// listed, or that the codec drops, fails it.
func OptionsStored(t *testing.T, c Codec, opts map[string]middleware.Option, read func(extras []any) any) {
	t.Helper()
	names := optionFuncs(t, ".")
	for _, n := range names {
		if _, ok := opts[n]; !ok {
			t.Errorf("option %s is not in the round-trip table: add it, with a value that is not its default", n)
		}
	}
	zero := read(nil)
	for _, n := range slices.Sorted(maps.Keys(opts)) {
		x := ExtrasOf(opts[n])
		want := read(x)
		if reflect.DeepEqual(want, zero) {
			t.Errorf("%s: the option changed nothing the backend reads", n)
			continue
		}
		data, err := c.EncodeOptions(x)
		if err != nil || data == nil {
			t.Errorf("%s: not stored: %q, %v", n, data, err)
			continue
		}
		back, err := c.DecodeOptions(data)
		if err != nil {
			t.Errorf("%s: stored as %s, not read back: %v", n, data, err)
			continue
		}
		if got := read(ExtrasOf(back)); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: stored as %s, read back as %+v, want %+v", n, data, got, want)
		}
	}
}

// optionFuncs lists the exported functions of the package in dir whose one
// result is a middleware.Option.
func optionFuncs(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			if n, ok := optionFunc(d); ok {
				out = append(out, n)
			}
		}
	}
	if len(out) == 0 {
		t.Fatalf("no option functions found in %s", dir)
	}
	return out
}

// optionFunc reports whether d is an exported function returning one
// middleware.Option, and its name.
func optionFunc(d ast.Decl) (string, bool) {
	fn, ok := d.(*ast.FuncDecl)
	if !ok || fn.Recv != nil || !fn.Name.IsExported() || fn.Type.Results == nil || len(fn.Type.Results.List) != 1 {
		return "", false
	}
	sel, ok := fn.Type.Results.List[0].Type.(*ast.SelectorExpr)
	if !ok || sel.Sel.Name != "Option" {
		return "", false
	}
	id, ok := sel.X.(*ast.Ident)
	return fn.Name.Name, ok && id.Name == "middleware"
}
