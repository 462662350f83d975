package jwt

// LooksLikeJWT reports whether b has the shape header.payload.signature:
// exactly two dots, non-empty header and payload, and only base64url
// characters. It lets a caller tell a JWT from an API key cheaply; it
// proves nothing about the token. It does not allocate.
func LooksLikeJWT(b []byte) bool {
	dots, seg := 0, 0
	for _, c := range b {
		switch {
		case c == '.':
			if seg == 0 || dots == 2 {
				return false
			}
			dots, seg = dots+1, 0
		case isB64URL(c):
			seg++
		default:
			return false
		}
	}
	return dots == 2 && seg > 0
}

func isB64URL(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
