package jwt

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"math/big"
)

// pssOptions follows RFC 7518 §3.5: the salt is as long as the hash.
var pssOptions = &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: crypto.SHA256}

// verifySignature checks sig over input with alg a. The key comes from
// the issuer's key set; for HS256 the secret comes from the issuer's
// configuration and k is nil.
func verifySignature(a algorithm, k *key, secret, input, sig []byte) bool {
	if a == algHS256 {
		return verifyHMAC(secret, input, sig)
	}
	if k == nil || !k.fits(a) {
		return false // BUG guard: find already matched the key type
	}
	switch a {
	case algEdDSA:
		return ed25519.Verify(k.ed, input, sig)
	}
	digest := sha256.Sum256(input)
	switch a {
	case algRS256:
		return rsa.VerifyPKCS1v15(k.rsa, crypto.SHA256, digest[:], sig) == nil
	case algPS256:
		return rsa.VerifyPSS(k.rsa, crypto.SHA256, digest[:], sig, pssOptions) == nil
	case algES256:
		return verifyES256(k.ec, digest[:], sig)
	}
	return false
}

func verifyHMAC(secret, input, sig []byte) bool {
	if len(secret) == 0 || len(sig) != sha256.Size {
		return false
	}
	mac := hmac.New(sha256.New, secret)
	mac.Write(input)
	return hmac.Equal(mac.Sum(nil), sig)
}

// verifyES256 checks a JWS ECDSA signature, which is R || S as two
// 32-byte big-endian integers (RFC 7518 §3.4), not ASN.1.
func verifyES256(pub *ecdsa.PublicKey, digest, sig []byte) bool {
	if len(sig) != 64 {
		return false
	}
	r := new(big.Int).SetBytes(sig[:32])
	s := new(big.Int).SetBytes(sig[32:])
	return ecdsa.Verify(pub, digest, r, s)
}
