package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// TestMain lets the test binary be the imbridge command for the scripts.
func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){"imbridge": main})
}

// TestScripts drives the real binary through testdata/script/*.txtar,
// against emulators that an "imbridge emulate" of the script serves from
// another process.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("HOME", env.WorkDir) // no user's config
			env.Setenv("XDG_CONFIG_HOME", env.WorkDir+"/.config")
			env.Setenv("IMBRIDGE_URL", "")
			env.Setenv("IMBRIDGE_CONFIG", "")
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			// waitfile FILE: wait until FILE exists and is not empty.
			"waitfile": func(ts *testscript.TestScript, neg bool, args []string) {
				deadline := time.Now().Add(20 * time.Second)
				for time.Now().Before(deadline) {
					if fi, err := os.Stat(ts.MkAbs(args[0])); err == nil && fi.Size() > 0 {
						return
					}
					time.Sleep(20 * time.Millisecond)
				}
				ts.Fatalf("%s did not appear", args[0])
			},
			// freeports VAR: set VAR to the first of five free loopback
			// ports in a row, for emulate --port.
			"freeports": func(ts *testscript.TestScript, neg bool, args []string) {
				for try := 0; try < 50; try++ {
					base := 20000 + rand.IntN(40000)
					var ls []net.Listener
					for i := range 5 {
						l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(base+i)))
						if err != nil {
							break
						}
						ls = append(ls, l)
					}
					for _, l := range ls {
						_ = l.Close()
					}
					if len(ls) == 5 {
						ts.Setenv(args[0], strconv.Itoa(base))
						return
					}
				}
				ts.Fatalf("no five free ports in a row")
			},
			// post URL BODY: POST BODY (JSON) to URL, retrying while nothing
			// listens yet; print the status and the answer.
			"post": func(ts *testscript.TestScript, neg bool, args []string) {
				var resp *http.Response
				var err error
				for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
					resp, err = http.Post(args[0], "application/json", strings.NewReader(args[1]))
					if err == nil || time.Now().After(deadline) {
						break
					}
				}
				if err != nil {
					ts.Fatalf("post: %v", err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				fmt.Fprintf(ts.Stdout(), "%d %s\n", resp.StatusCode, b)
			},
			// envfile FILE: set the KEY=VALUE lines of FILE in the environment.
			"envfile": func(ts *testscript.TestScript, neg bool, args []string) {
				sc := bufio.NewScanner(strings.NewReader(ts.ReadFile(args[0])))
				for sc.Scan() {
					if k, v, ok := strings.Cut(sc.Text(), "="); ok {
						ts.Setenv(k, v)
					}
				}
			},
		},
	})
}

// In process: each exit code from the error that causes it.
func TestExitCodes(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tt := range []struct {
		args []string
		want int
	}{
		{nil, exitUsage},
		{[]string{"bogus"}, exitUsage},
		{[]string{"send", "--no-such-flag"}, exitUsage},
		{[]string{"file", "--url", "wecom://abcdefgh-1234"}, exitUsage},
		{[]string{"send", "--config", "/definitely/missing", "hi"}, exitConfig},
		{[]string{"send", "--url", "wecom://abcdefgh-1234?colour=red", "hi"}, exitConfig},
		{[]string{"send", "--url", "tim://admin:s@1400000000", "--mention", "x", "--user", "u", "hi"}, exitBadInput},
		{[]string{"send", "--url", "wecom://abcdefgh-1234", "--account", "nobody", "hi"}, exitNoAccount},
		{[]string{"send", "--url", "wecom://abcdefgh-1234?base=http://127.0.0.1:1", "--timeout", "2s", "hi"}, exitFailed},
	} {
		var out, errOut strings.Builder
		got := run(ctx, tt.args, strings.NewReader(""), &out, &errOut)
		if got != tt.want {
			t.Errorf("%q: exit %d, want %d\n%s%s", tt.args, got, tt.want, out.String(), errOut.String())
		}
	}
}
