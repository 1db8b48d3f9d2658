package perf

import "strings"

// CommandLine joins a program name and its arguments into one line a
// POSIX shell reads back as the same words: CompareOptions.Command, the
// reproduction line of a report, is built with it. Words holding spaces,
// quotes or shell syntax are single-quoted.
func CommandLine(words ...string) string {
	quoted := make([]string, len(words))
	for i, w := range words {
		if w == "" || strings.ContainsAny(w, " \t\n'\"$`\\;&|<>*?()[]{}#~!") {
			w = "'" + strings.ReplaceAll(w, "'", `'\''`) + "'"
		}
		quoted[i] = w
	}
	return strings.Join(quoted, " ")
}
