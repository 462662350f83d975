package main

import (
	"runtime"
	"strings"
)

// goroutinesOf returns the stacks of the live goroutines that run, or were
// started by, one of the functions named (as "main.serve"), or "". A
// command that returned must have waited for every goroutine it started.
func goroutinesOf(funcs ...string) string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var found []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range funcs {
			if strings.Contains(g, fn+"(") || strings.Contains(g, fn+".func") || strings.Contains(g, "created by "+fn+" ") || strings.Contains(g, "created by "+fn+".") {
				found = append(found, g)
				break
			}
		}
	}
	return strings.Join(found, "\n\n")
}
