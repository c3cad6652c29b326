package answer

import (
	"crypto/ed25519"
	"errors"
	"strconv"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// Health codes (docs/health-codes.md): the rules of issuing and of passing,
// and the JSON objects of POST /v1/codes and POST /v1/codes/verify, which
// `hcx code issue` and `hcx code verify` share so that both write the same
// bytes.

// DefaultTTL and MaxTTL bound how long a code lives.
const (
	DefaultTTL = 24 * time.Hour
	MaxTTL     = 7 * 24 * time.Hour
)

// ErrTTL: a ttl that is not a duration from 1s to MaxTTL.
var ErrTTL = errors.New("ttl: want a duration from 1s to 168h (7 days)")

// ParseTTL reads a code's lifetime as a Go duration ("24h", "90m"): ""
// is DefaultTTL; under a second (a code keeps whole seconds) or over
// MaxTTL is ErrTTL.
func ParseTTL(s string) (time.Duration, error) {
	if s == "" {
		return DefaultTTL, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < time.Second || d > MaxTTL {
		return 0, ErrTTL
	}
	return d, nil
}

// Issued is a code just issued, with what its answer shows.
type Issued struct {
	Code    []byte // the code's text, HCX1:...
	ID      engine.ID
	Region  string        // the issuer's region
	Status  engine.Status // the colour in the code: the merged status at issue
	Issued  time.Time
	Expires time.Time
}

// Issue issues a code for id, signed by the issuer key of region (from
// the trust list of snap), valid for ttl from now: its colour is the
// person's merged status across all regions in snap. An invalid id is its
// engine.IDError (errors.As).
func Issue(snap *engine.Snapshot, key ed25519.PrivateKey, region, id string, ttl time.Duration, now time.Time) (Issued, error) {
	pid, err := snap.Calendar().ParseID(id)
	if err != nil {
		return Issued{}, err
	}
	now = now.Truncate(time.Second)
	is := Issued{ID: pid, Region: region, Status: snap.LookupID(pid).Status, Issued: now, Expires: now.Add(ttl.Truncate(time.Second))}
	is.Code, err = engine.IssueCode(make([]byte, 0, engine.CodeTextLen), key,
		engine.CodeClaims{ID: pid, Colour: is.Status, Issued: is.Issued, Expires: is.Expires})
	return is, err
}

// AppendIssued appends the answer of POST /v1/codes:
// {"code","id" (masked),"region","status","issued","expires"}, times in
// RFC 3339 in loc.
func AppendIssued(dst []byte, is Issued, loc *time.Location) []byte {
	dst = append(dst, `{"code":"`...)
	dst = append(dst, is.Code...) // Base45 and HCX1: need no escaping in JSON
	dst = append(dst, `","id":"`...)
	dst = appendMaskedID(dst, is.ID)
	dst = append(dst, `","region":`...)
	dst = strconv.AppendQuote(dst, is.Region)
	dst = append(dst, `,"status":"`...)
	dst = append(dst, is.Status.String()...)
	dst = append(dst, `","issued":`...)
	dst = appendTime(dst, is.Issued, loc)
	dst = append(dst, `,"expires":`...)
	dst = appendTime(dst, is.Expires, loc)
	return append(dst, '}')
}

// Verified is the verdict on one code: the code's own checks and, for a
// valid code, its holder's status now.
type Verified struct {
	Code   engine.CodeResult
	Status engine.Result // the holder's merged status now; zero for a refused code
	// Pass: a valid (so unexpired) code, green when issued, of a person
	// whom no region lists now.
	Pass bool
}

// VerifyCode checks a code's text against the trust list of the view's
// snapshot at now and looks its holder up in that snapshot. It does not
// allocate and does not retain text.
func VerifyCode(v *View, text []byte, now time.Time) Verified {
	a := Verified{Code: engine.VerifyCode(text, v.Snap.TrustList(), now)}
	if a.Code.Valid {
		a.Status = v.Snap.LookupID(a.Code.ID)
		a.Pass = a.Code.Colour == engine.Green && a.Status.Status == engine.Green
	}
	return a
}

// AppendCode appends the answer object of POST /v1/codes/verify for a:
// {"valid":true,"pass","id" (masked),"region","codeStatus","status",
// "since","sources","issued","expires","asOf","stale"}, or
// {"valid":false,"pass":false,"error":REASON}. It does not allocate when
// dst has room.
func AppendCode(dst []byte, v *View, a Verified) []byte {
	c := a.Code
	if !c.Valid {
		dst = append(dst, `{"valid":false,"pass":false,"error":"`...)
		dst = append(dst, c.Reason.String()...)
		return append(dst, `"}`...)
	}
	dst = append(dst, `{"valid":true,"pass":`...)
	dst = strconv.AppendBool(dst, a.Pass)
	dst = append(dst, `,"id":"`...)
	dst = appendMaskedID(dst, c.ID)
	dst = append(dst, `","region":"`...)
	dst = append(dst, c.Region...) // a trust list's region names are [a-z0-9]
	dst = append(dst, `","codeStatus":"`...)
	dst = append(dst, c.Colour.String()...)
	dst = append(dst, `","status":"`...)
	dst = append(dst, a.Status.Status.String()...)
	dst = append(dst, '"')
	dst = appendSinceSources(dst, v, a.Status)
	dst = append(dst, `,"issued":`...)
	dst = appendTime(dst, c.Issued, v.loc)
	dst = append(dst, `,"expires":`...)
	dst = appendTime(dst, c.Expires, v.loc)
	return append(dst, v.tail...)
}

// appendMaskedID appends the masked form of id's 18 characters.
func appendMaskedID(dst []byte, id engine.ID) []byte {
	var b [engine.IDLen]byte
	id.Body((*[engine.IDLen - 1]byte)(b[:engine.IDLen-1]))
	b[engine.IDLen-1] = engine.CheckChar(b[:engine.IDLen-1])
	return engine.AppendMask(dst, b[:])
}

func appendTime(dst []byte, t time.Time, loc *time.Location) []byte {
	if loc == nil {
		loc = engine.CST
	}
	dst = append(dst, '"')
	dst = t.In(loc).AppendFormat(dst, time.RFC3339)
	return append(dst, '"')
}
