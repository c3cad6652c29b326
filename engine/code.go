package engine

import (
	"crypto/ed25519"
	"encoding/binary"
	"errors"
	"time"
)

// A health code (docs/health-codes.md, FORMAT.md "Health code") is the
// text CodePrefix followed by Base45 of a 26-byte payload and its 64-byte
// Ed25519 signature by the issuer's key. Payload, little-endian:
//
//	0  1  version, 1
//	1  8  kid of the issuer key
//	9  8  the ID's 17 body digits as an unsigned integer
//	17 1  colour at issue: 0 green, 1 yellow, 2 red
//	18 4  issued, Unix seconds
//	22 4  expires, Unix seconds
//
// The signature covers CodeSignatureLabel, then the payload.
const (
	CodePrefix         = "HCX1:"
	CodeVersion        = 1
	CodePayloadSize    = 26
	CodeSize           = CodePayloadSize + ed25519.SignatureSize // 90
	CodeTextLen        = len(CodePrefix) + CodeSize/2*3          // 140
	CodeSignatureLabel = "hcx code v1\x00"
	// CodeClockSkew is how far in the future a code's issue time may be:
	// gates' and issuers' clocks disagree a little.
	CodeClockSkew = 2 * time.Minute
)

// CodeReason is why a code is refused. The zero value is ReasonFormat, so a
// CodeResult nobody filled in reads as refused. The order is the order of
// the checks.
type CodeReason uint8

const (
	ReasonFormat        CodeReason = iota // not HCX1: + Base45 of 90 bytes, or a field out of range
	ReasonUnknownIssuer                   // the kid is not in the trust list
	ReasonRevokedIssuer                   // the kid is in the trust list, revoked
	ReasonSignature                       // the signature is not the issuer key's
	ReasonNotYetValid                     // issued more than CodeClockSkew in the future
	ReasonExpired                         // the expiry time has passed
	ReasonNone                            // valid
)

var codeReasons = [...]string{
	ReasonFormat:        "format",
	ReasonUnknownIssuer: "unknown_issuer",
	ReasonRevokedIssuer: "revoked_issuer",
	ReasonSignature:     "signature",
	ReasonNotYetValid:   "not_yet_valid",
	ReasonExpired:       "expired",
	ReasonNone:          "none",
}

// String is the reason as answers name it: "format", "unknown_issuer",
// "revoked_issuer", "signature", "not_yet_valid", "expired" ("none" for a
// valid code).
func (r CodeReason) String() string {
	if int(r) < len(codeReasons) {
		return codeReasons[r]
	}
	return "format"
}

// CodeClaims are what a code states about its holder.
type CodeClaims struct {
	ID      ID
	Colour  Status // Green, Yellow or Red: the merged status at issue
	Issued  time.Time
	Expires time.Time
}

// CodeResult is the verdict on one code: a small value (VerifyCode does
// not allocate). When Valid is false, Reason says why and the other fields
// hold what the code claims as far as it could be read: unverified, except
// for ReasonNotYetValid and ReasonExpired, whose signature did verify.
type CodeResult struct {
	Valid  bool
	Reason CodeReason // ReasonNone when Valid
	Kid    Kid
	Region string // the issuer's region, from the trust list ("" if the kid is unknown)
	CodeClaims
}

// ErrCodeClaims: IssueCode was given claims a code cannot hold.
var ErrCodeClaims = errors.New("engine: code claims out of range")

// maxIDBody is one more than the largest 17-digit body.
const maxIDBody = 1e17

// IssueCode appends the text of a code for claims, signed with the
// issuer's private key, to dst. The kid is the key's. Claims must have a
// colour of Green, Yellow or Red and times from 1970 to 2106 with Expires
// after Issued (ErrCodeClaims); times are kept to the second. It allocates
// only the signature and, when dst lacks room, the text.
func IssueCode(dst []byte, key ed25519.PrivateKey, c CodeClaims) ([]byte, error) {
	if len(key) != ed25519.PrivateKeySize {
		return dst, &issuerError{ErrCodeClaims, "an issuer key is 64 bytes"}
	}
	var msg [len(CodeSignatureLabel) + CodePayloadSize]byte
	copy(msg[:], CodeSignatureLabel)
	p := msg[len(CodeSignatureLabel):]
	iss, exp := c.Issued.Unix(), c.Expires.Unix()
	switch {
	case uint64(c.ID) >= maxIDBody:
		return dst, &issuerError{ErrCodeClaims, "not an ID"}
	case c.Colour < Green || c.Colour > Red:
		return dst, &issuerError{ErrCodeClaims, "colour " + c.Colour.String()}
	case iss < 0 || iss > 1<<32-1 || exp < 0 || exp > 1<<32-1:
		return dst, &issuerError{ErrCodeClaims, "times outside 1970 to 2106"}
	case exp <= iss:
		return dst, &issuerError{ErrCodeClaims, "expires is not after issued"}
	}
	le := binary.LittleEndian
	p[0] = CodeVersion
	kid := KidOf(ed25519.PublicKey(key[ed25519.SeedSize:])) // a private key is seed || public key
	copy(p[1:9], kid[:])
	le.PutUint64(p[9:], uint64(c.ID))
	p[17] = byte(c.Colour - Green)
	le.PutUint32(p[18:], uint32(iss))
	le.PutUint32(p[22:], uint32(exp))
	var raw [CodeSize]byte
	copy(raw[:], p)
	copy(raw[CodePayloadSize:], ed25519.Sign(key, msg[:]))
	dst = append(dst, CodePrefix...)
	return Base45Encode(dst, raw[:]), nil
}

// VerifyCode checks a code's text against a trust list at time now, in
// this order: the format (CodePrefix, Base45 of exactly 90 bytes, version,
// ID and colour in range); the kid in the trust list and not revoked; the
// Ed25519 signature by that key; issued not after now + CodeClockSkew and
// now before expires. ASCII spaces, tabs, CR and LF around the text are
// ignored (scanners send a line end). A nil trust list is empty. It does
// not allocate and does not retain text.
//
// The person's current status is not part of the verdict: callers look
// CodeResult.ID up in a snapshot (Snapshot.LookupID) or an edge filter
// (EdgeFilter.CheckIDAt).
func VerifyCode(text []byte, trust *TrustList, now time.Time) CodeResult {
	var r CodeResult // Reason: ReasonFormat
	text = trimSpace(text)
	if len(text) != CodeTextLen || string(text[:len(CodePrefix)]) != CodePrefix {
		return r
	}
	var raw [CodeSize]byte
	if n, f := base45Decode(raw[:], text[len(CodePrefix):]); f.reason != "" || n != CodeSize {
		return r
	}
	p := raw[:CodePayloadSize]
	le := binary.LittleEndian
	body, colour := le.Uint64(p[9:]), p[17]
	if p[0] != CodeVersion || body >= maxIDBody || colour > 2 {
		return r
	}
	r.Kid = Kid(p[1:9])
	r.ID = ID(body)
	r.Colour = Green + Status(colour)
	r.Issued = time.Unix(int64(le.Uint32(p[18:])), 0)
	r.Expires = time.Unix(int64(le.Uint32(p[22:])), 0)

	i := trust.find(r.Kid)
	if i < 0 {
		r.Reason = ReasonUnknownIssuer
		return r
	}
	iss := &trust.issuers[i]
	r.Region = iss.Region
	if iss.Status != IssuerActive {
		r.Reason = ReasonRevokedIssuer
		return r
	}
	var msg [len(CodeSignatureLabel) + CodePayloadSize]byte
	copy(msg[:], CodeSignatureLabel)
	copy(msg[len(CodeSignatureLabel):], p)
	if !ed25519.Verify(iss.PublicKey, msg[:], raw[CodePayloadSize:]) {
		r.Reason = ReasonSignature
		return r
	}
	switch {
	case r.Issued.After(now.Add(CodeClockSkew)):
		r.Reason = ReasonNotYetValid
	case !now.Before(r.Expires):
		r.Reason = ReasonExpired
	default:
		r.Valid, r.Reason = true, ReasonNone
	}
	return r
}

// trimSpace drops ASCII spaces, tabs, CRs and LFs from both ends. Space is
// a Base45 character, but never a code's first or last: the text starts
// with CodePrefix and ends with the third character of a group, n/2025 <= 32.
func trimSpace(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t' || b[0] == '\r' || b[0] == '\n') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t' || b[len(b)-1] == '\r' || b[len(b)-1] == '\n') {
		b = b[:len(b)-1]
	}
	return b
}
