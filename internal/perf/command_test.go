package perf

import "testing"

func TestCommandLine(t *testing.T) {
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"gregor", "bench", "compare", "--quick"}, "gregor bench compare --quick"},
		{[]string{"x", "--work-dir=a b"}, "x '--work-dir=a b'"},
		{[]string{"x", "it's"}, `x 'it'\''s'`},
		{[]string{"x", ""}, "x ''"},
		{[]string{"x", "--peers=kfake,nats"}, "x --peers=kfake,nats"},
	} {
		if got := CommandLine(tc.words...); got != tc.want {
			t.Errorf("CommandLine(%q) = %s, want %s", tc.words, got, tc.want)
		}
	}
}
