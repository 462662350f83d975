package collector

import "strings"

// CSVCell returns s made safe as a cell of a CSV file opened in a
// spreadsheet: a cell starting with '=', '+', '-' or '@' (or a tab or
// carriage return, which some spreadsheets skip before one of them) is a
// formula there, so it gets a leading apostrophe, which spreadsheets show
// as text (OWASP "CSV Injection"). Quoting for the CSV syntax itself is
// encoding/csv's job. The evidence manifest writes every cell through it.
func CSVCell(s string) string {
	if s == "" || !strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return s
	}
	return "'" + s
}
