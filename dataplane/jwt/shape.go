package jwt

// LooksLikeJWT reports whether b has the shape header.payload.signature:
// exactly two dots, non-empty header and payload, and only base64url
// characters. It lets a caller tell a JWT from an API key cheaply; it
// proves nothing about the token. It does not allocate.
func LooksLikeJWT(b []byte) bool {
	dots, seg := 0, 0
	for _, c := range b {
		switch shapeClass[c] {
		case classB64:
			seg++
		case classDot:
			if seg == 0 || dots == 2 {
				return false
			}
			dots, seg = dots+1, 0
		default:
			return false
		}
	}
	return dots == 2 && seg > 0
}

const (
	classOther = iota
	classB64
	classDot
)

// shapeClass classifies bytes for LooksLikeJWT with one table load each.
var shapeClass = func() (t [256]uint8) {
	for c := range t {
		switch {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
			t[c] = classB64
		case c == '.':
			t[c] = classDot
		}
	}
	return t
}()
