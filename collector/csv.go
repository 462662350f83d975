package collector

import (
	"strings"
	"unicode/utf8"
)

// CSVCell returns s made safe as a cell of a CSV file opened in a
// spreadsheet: a cell whose first character other than white space is
// '=', '+', '-' or '@' (or their full-width forms, which some locales'
// spreadsheets read as the same) is a formula there, or becomes one when
// the import trims the cell, so it gets a leading apostrophe, which
// spreadsheets show as text (OWASP "CSV Injection"). A cell starting with
// a tab or carriage return gets one too. Quoting for the CSV syntax itself
// is encoding/csv's job. The evidence manifest writes every cell through it.
func CSVCell(s string) string {
	if s == "" || (s[0] != '\t' && s[0] != '\r' && !formulaStart(s)) {
		return s
	}
	return "'" + s
}

// formulaStart reports whether s's first character other than white
// space starts a formula.
func formulaStart(s string) bool {
	s = strings.TrimLeft(s, " \t\r\n\v\f\u00a0\u3000")
	r, _ := utf8.DecodeRuneInString(s)
	switch r {
	case '=', '+', '-', '@', '＝', '＋', '－', '＠':
		return true
	}
	return false
}
