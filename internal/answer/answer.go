// Package answer renders lookup results and health-code verdicts as the
// JSON objects of the HTTP API (docs/http-api.md, docs/health-codes.md), for
// the server and for `hcx lookup` and `hcx code`, which print the same
// objects; and it holds the rules those answers follow (a code's colour at
// issue, its lifetime, when a code passes).
//
// # Concurrency
//
// A View is immutable and safe for concurrent use. AppendJSON does not
// allocate when dst has room.
package answer

import (
	"bytes"
	"encoding/binary"
	"slices"
	"strconv"
	"time"

	"github.com/yrd-hcx/hcx/engine"
)

// DefaultMaxAge is how old a region's newest list may be before every answer
// names the region as stale (--max-age, 36h).
const DefaultMaxAge = 36 * time.Hour

// View is what all answers from one snapshot at one moment share: the
// region names, the snapshot's date and the stale regions, rendered once.
type View struct {
	Snap      *engine.Snapshot
	AsOf      engine.Day     // the newest list date of any region
	StaleList []string       // regions with no list or one older than the max age
	loc       *time.Location // the zone of a code's times
	names     [][]byte       // `{"region":"sh","status":"` per region
	tail      []byte         // `,"asOf":"...","stale":[...]}`
	green     []byte         // a green answer for an ID of IDLen bytes, the mask's eight visible characters to fill in
	greenRuns [2][]byte      // greenRun copies of green, each followed by '\n', and by ','
}

// NewView prepares answers from s as of now: a region's list dated D counts
// from the start of D in loc, or from its ingest time if that is earlier
// (engine.RegionInfo.FreshFrom), and is stale once older than maxAge.
func NewView(s *engine.Snapshot, now time.Time, maxAge time.Duration, loc *time.Location) *View {
	v := &View{Snap: s, AsOf: engine.NoDay, loc: loc}
	for _, r := range s.Regions() {
		v.names = append(v.names, []byte(`{"region":"`+r.Name+`","status":"`))
		if r.ListDate != engine.NoDay && r.ListDate > v.AsOf {
			v.AsOf = r.ListDate
		}
		if r.ListDate == engine.NoDay || now.Sub(r.FreshFrom(loc)) > maxAge {
			v.StaleList = append(v.StaleList, r.Name)
		}
	}
	v.tail = append(v.tail, `,"asOf":`...)
	v.tail = appendDay(v.tail, v.AsOf)
	v.tail = append(v.tail, `,"stale":[`...)
	for i, name := range v.StaleList {
		if i > 0 {
			v.tail = append(v.tail, ',')
		}
		v.tail = strconv.AppendQuote(v.tail, name)
	}
	v.tail = append(v.tail, "]}"...)
	v.green = append([]byte(greenHead+`,"since":null,"sources":[]`), v.tail...)
	for i, sep := range []byte{'\n', ','} {
		v.greenRuns[i] = bytes.Repeat(append(slices.Clip(v.green), sep), greenRun)
	}
	return v
}

// IsStale reports whether region is in the stale list.
func (v *View) IsStale(region string) bool { return slices.Contains(v.StaleList, region) }

// AppendJSON appends the answer object for query (the ID as the caller sent
// it; only its masked form is written) and its result.
//
// A batch answers mostly green IDs sent as they are, and rendering them was
// a third of a 1,000-ID batch's CPU (the profile in BENCHMARKS.md, serving
// cost), so two cases are written at once: a valid ID of exactly IDLen
// bytes has nothing to trim or escape (its mask is its first and last four
// characters around ten stars, as engine.AppendMask would write), and a
// green answer for such an ID is the view's, copied whole, with the eight
// characters stored into it (bench/instructions.sh on
// BenchmarkBatchHandler/text: 923 instructions an ID against 952 when it
// was appended in six pieces, each a call to memmove).
func AppendJSON[T string | []byte](dst []byte, v *View, query T, r engine.Result) []byte {
	if len(query) == engine.IDLen && r.Status == engine.Green && r.Since == engine.NoDay && r.Red|r.Yellow == 0 {
		n := len(dst)
		dst = append(dst, v.green...)
		put4(dst[n+len(`{"id":"`):], query[:4])
		put4(dst[n+len(`{"id":"0000**********`):], query[engine.IDLen-4:])
		return dst
	}
	dst = append(dst, `{"id":"`...)
	if r.Status != engine.Invalid && len(query) == engine.IDLen {
		dst = append(dst, query[:4]...)
		dst = append(dst, "**********"...)
		dst = append(dst, query[engine.IDLen-4:]...)
	} else {
		dst = engine.AppendMask(dst, query)
	}
	if r.Status == engine.Green && r.Since == engine.NoDay && r.Red|r.Yellow == 0 {
		return append(dst, v.green[len(`{"id":"0000**********0000`):]...) // from `","status"`
	}
	dst = append(dst, `","status":"`...)
	dst = append(dst, r.Status.String()...)
	dst = append(dst, '"')
	if r.Status == engine.Invalid {
		dst = append(dst, `,"error":"`...)
		dst = append(dst, r.Err.Reason()...)
		return append(dst, `"}`...)
	}
	dst = appendSinceSources(dst, v, r)
	return append(dst, v.tail...)
}

// AppendGreens appends the answers of ids, each followed by sep ('\n' for
// NDJSON, ',' inside a JSON array): ids must all be valid and green (the
// IDs a screening did not keep), so each answer is AppendJSON's for
// engine.Green. A full batch is mostly these. Runs of IDs of exactly IDLen
// bytes are answered by copying up to greenRun answers of the view's at once
// and storing each one's eight visible characters into its copy
// (bench/instructions.sh on BenchmarkBatchHandler/text, 200,000 IDs: 741
// instructions an ID, against 891 with a Result per ID rendered through
// AppendJSON).
func AppendGreens[T string | []byte](dst []byte, v *View, ids []T, sep byte) []byte {
	run := v.greenRuns[0]
	if sep == ',' {
		run = v.greenRuns[1]
	} else if sep != '\n' {
		run = nil
	}
	line := len(v.green) + 1
	for len(ids) > 0 {
		// Copy the answers of up to greenRun IDs, then fill in their
		// masks up to the first ID that is not of IDLen bytes.
		k := min(len(ids), len(run)/line)
		n := len(dst)
		dst = append(dst, run[:k*line]...)
		b := dst[n:]
		j := 0
		for ; j < k && len(ids[j]) == engine.IDLen; j++ {
			id := ids[j]
			put4(b[len(`{"id":"`):], id[:4])
			put4(b[len(`{"id":"0000**********`):], id[engine.IDLen-4:])
			b = b[line:]
		}
		if j < k || k == 0 { // not of IDLen bytes (padded), or no copies for sep
			dst = append(AppendJSON(dst[:n+j*line], v, ids[j], greenResult), sep)
			j++
		}
		ids = ids[j:]
	}
	return dst
}

// greenRun is how many green answers View.greenRuns holds.
const greenRun = 32

var greenResult = engine.Result{Status: engine.Green, Since: engine.NoDay}

// greenHead is how a green answer begins, its ID's mask a placeholder.
const greenHead = `{"id":"0000**********0000","status":"green"`

// put4 stores the first four bytes of src into dst: one 32-bit store, not
// a call to memmove.
func put4[T string | []byte](dst []byte, src T) {
	_, _ = dst[3], src[3]
	binary.LittleEndian.PutUint32(dst, uint32(src[0])|uint32(src[1])<<8|uint32(src[2])<<16|uint32(src[3])<<24)
}

// appendSinceSources appends `,"since":...,"sources":[...]` of a valid
// ID's result.
func appendSinceSources(dst []byte, v *View, r engine.Result) []byte {
	dst = append(dst, `,"since":`...)
	dst = appendDay(dst, r.Since)
	dst = append(dst, `,"sources":[`...)
	first := true
	for i, name := range v.names {
		c := r.Source(i)
		if c == engine.Green {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = append(dst, name...)
		dst = append(dst, c.String()...)
		dst = append(dst, `"}`...)
	}
	return append(dst, ']')
}

func appendDay(dst []byte, d engine.Day) []byte {
	if d == engine.NoDay {
		return append(dst, "null"...)
	}
	dst = append(dst, '"')
	dst = d.AppendFormat(dst)
	return append(dst, '"')
}
