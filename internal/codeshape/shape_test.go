package codeshape

import (
	"flag"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// The limits of a library function, unless its doc says "codeshape:" and
// why.
const (
	maxLines      = 60
	maxComplexity = 20
)

var report = flag.Int("codeshape.top", 0, "print the N longest and the N most complex functions")

// notLibrary are the trees whose code is not imported by users: the CLI,
// examples and benchmarks.
func notLibrary(dir string) bool {
	top, _, _ := strings.Cut(dir, "/")
	return top == "cmd" || top == "examples" || top == "bench"
}

func TestLibraryFunctionsStaySmall(t *testing.T) {
	funcs, err := Measure("../..", notLibrary)
	if err != nil {
		t.Fatal(err)
	}
	if len(funcs) < 100 {
		t.Fatalf("measured only %d functions: wrong root?", len(funcs))
	}
	for _, f := range funcs {
		if f.Excused {
			continue
		}
		if f.Lines > maxLines {
			t.Errorf("%s %s: %d lines (limit %d)", f.File, f.Name, f.Lines, maxLines)
		}
		if f.Complexity > maxComplexity {
			t.Errorf("%s %s: cyclomatic %d (limit %d)", f.File, f.Name, f.Complexity, maxComplexity)
		}
	}
	if *report > 0 {
		top(t, funcs, "longest", func(f Func) int { return f.Lines })
		top(t, funcs, "most complex", func(f Func) int { return f.Complexity })
	}
}

func top(t *testing.T, funcs []Func, what string, by func(Func) int) {
	s := slices.Clone(funcs)
	slices.SortStableFunc(s, func(a, b Func) int { return by(b) - by(a) })
	var b strings.Builder
	for _, f := range s[:min(*report, len(s))] {
		fmt.Fprintf(&b, "  %4d lines  cyclo %3d  %s %s\n", f.Lines, f.Complexity, f.File, f.Name)
	}
	t.Logf("%s:\n%s", what, b.String())
}

func TestComplexityCounts(t *testing.T) {
	funcs, err := Measure("testdata", func(string) bool { return false })
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]int{"straight": 1, "branchy": 7, "(*T).method": 2}
	got := map[string]int{}
	for _, f := range funcs {
		got[f.Name] = f.Complexity
	}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: cyclomatic %d, want %d", name, got[name], w)
		}
	}
}
