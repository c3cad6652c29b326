package verifier

import (
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// IsCode reports whether a line (blanks around it trimmed) is a health
// code rather than an ID: it starts with engine.CodePrefix.
func IsCode(line []byte) bool {
	return len(line) >= len(engine.CodePrefix) && string(line[:len(engine.CodePrefix)]) == engine.CodePrefix
}

// AppendCodeAnswer verifies a health code offline at now (against the
// filter's trust list, then the holder against its filters) and appends
// the answer object docs/health-codes.md gives, without a newline:
//
//	{"valid":true,"pass":true,"id":"3101**********123X","region":"sh","codeStatus":"green","status":"green","probable":false,"since":null,"sources":[],"issued":"2026-11-27T08:00:00+08:00","expires":"2026-11-28T08:00:00+08:00","asOf":"2026-11-27","stale":[]}
//	{"valid":false,"pass":false,"error":"signature"}
//
// status is the holder's merged status now, from the filters (probable on
// a hit, stale once the filter is past its deadline); pass is true only for
// a valid green code whose holder no region's filter lists. since is null:
// a filter does not carry it. asOf is the newest list date in the filter,
// as online. Times are in the publisher's zone. Only the
// masked ID is written; the code is not.
func AppendCodeAnswer(dst []byte, f *engine.EdgeFilter, text []byte, now time.Time) []byte {
	c := engine.VerifyCode(text, f.TrustList(), now)
	if !c.Valid {
		dst = append(dst, `{"valid":false,"pass":false,"error":"`...)
		dst = append(dst, c.Reason.String()...)
		return append(dst, `"}`...)
	}
	r := f.CheckIDAt(c.ID, now)
	pass := c.Colour == engine.Green && r.Status == engine.Green && !r.Stale
	var id [engine.IDLen]byte
	body := (*[engine.IDLen - 1]byte)(id[:engine.IDLen-1])
	c.ID.Body(body)
	id[engine.IDLen-1] = engine.CheckChar(body[:])
	dst = append(dst, `{"valid":true,"pass":`...)
	dst = appendBool(dst, pass)
	dst = append(dst, `,"id":"`...)
	dst = engine.AppendMask(dst, id[:])
	dst = append(dst, `","region":"`...)
	dst = append(dst, c.Region...) // a-z0-9 only
	dst = append(dst, `","codeStatus":"`...)
	dst = append(dst, c.Colour.String()...)
	dst = append(dst, `","status":"`...)
	dst = append(dst, r.Answer()...)
	dst = append(dst, `","probable":`...)
	dst = appendBool(dst, r.Probable())
	dst = append(dst, `,"since":null`...)
	dst = appendSources(dst, f, r)
	loc := f.Calendar().Location()
	dst = append(dst, `,"issued":"`...)
	dst = c.Issued.In(loc).AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","expires":"`...)
	dst = c.Expires.In(loc).AppendFormat(dst, time.RFC3339)
	dst = append(dst, `","asOf":`...)
	dst = appendAsOf(dst, f)
	dst = appendStale(dst, f, r)
	return append(dst, '}')
}

// appendAsOf appends the newest list date the filter holds, as the online
// answer's asOf: "YYYY-MM-DD", or null when no region has a list.
func appendAsOf(dst []byte, f *engine.EdgeFilter) []byte {
	newest := engine.NoDay
	for _, reg := range f.Regions() {
		if reg.ListDate != engine.NoDay && (newest == engine.NoDay || reg.ListDate > newest) {
			newest = reg.ListDate
		}
	}
	if newest == engine.NoDay {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = newest.AppendFormat(dst)
	return append(dst, '"')
}

func appendBool(dst []byte, b bool) []byte {
	if b {
		return append(dst, "true"...)
	}
	return append(dst, "false"...)
}
