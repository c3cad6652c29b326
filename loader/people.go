package loader

import "github.com/yrd-hcx/hcx/engine"

// people merges a file's valid rows into one record a person, keeping the
// memory a file costs bounded by the people in it, never by its rows: ten
// million copies of one row end up as one record, and cost what it costs
// (docs/daily-files.md, "Memory").
//
// Rows are appended to a pending buffer. A file of distinct people (every
// real export) is sorted and merged once, at the end, as fast as ever. The
// pending rows are merged into the run of people early only when they
// outnumber twice the people seen so far, plus minPending: the count of
// people comes from a sketch (distinct), as a true count would need the
// per-row table lookups this design avoids (a table probed per row made
// BenchmarkParse about 30% slower, its cache misses on a busy machine).
// After such a merge, held rows stay under twice the people again, so a
// file of one person repeated holds minPending rows at most.
//
// The edge filter's hook (ParseOptions.OnValid) sees each row as it comes
// until the first early merge, and from then on only at merges, once for
// each person and colour new to the run, with the ID rebuilt from the
// digits the pending row packs (packID). So the edge part, too, is bounded
// by the people: at most the rows held before the first early merge, and
// two a person after it.
//
// With edge set, each row also carries its ID's salted hash for the edge
// filter (engine.EdgeRegionBuilder.Hash), computed as the row is parsed,
// and the merges keep one a person beside the run: the part is then built
// from the merged people, with no second sort of its own and no callback
// (BenchmarkIngest).
//
// Not safe for concurrent use.
type people struct {
	pending chunks       // rows since the last merge
	sorted  []pendingRow // the pending rows sorted at a merge; kept for the next
	run     []Record     // merged so far: sorted by pseudonym, one a person, seen set
	spare   []Record     // the run before the last merge, reused as the next output
	est     distinct     // how many people the rows so far hold, roughly

	edge         *engine.EdgeRegionBuilder // nil: no edge hashes
	runH, spareH []uint64                  // with edge: the run's people's edge hashes, and spare's

	nextCheck int  // held rows at which to compare them with est again
	deferred  bool // after an early merge: OnValid waits for the merges
	min       int  // rows that may wait whatever the people; 0: minPending (FuzzPeople makes it small)

	duplicates, conflicts int
}

// pendingRow is a valid row waiting for a merge: its pseudonym, its
// colour, since and (once OnValid is deferred) its ID, packed, and (with
// people.edge) its edge hash. 24 bytes.
type pendingRow struct {
	p      engine.Pseudonym
	packed uint64 // id (bits 0-46, packID) | since (47-62, packSince) | red (63)
	h      uint64 // edge hash, 0 without people.edge
}

func (r pendingRow) color() engine.Status {
	if r.packed&(1<<63) != 0 {
		return engine.Red
	}
	return engine.Yellow
}

// minPending is how many rows may wait, whatever the people: 32 KiB. The
// early merges it allows on a file of one person repeated cost a sort of
// this many rows each.
const minPending = 2048

// Colours seen for a person, in Record.seen.
const (
	seenYellow uint8 = 1 << iota
	seenRed
)

// add queues a valid row; id is its trimmed ID (engine.IDLen bytes).
// onValid, if set, is called for the rows the edge filter must see, now or
// at a merge.
func (t *people) add(p engine.Pseudonym, c engine.Status, since engine.Day, id []byte, onValid func([]byte, engine.Status)) {
	if held := t.pending.n + len(t.run); held >= t.nextCheck {
		t.check(held, onValid)
	}
	t.est.add(p)
	r := pendingRow{p: p, packed: packSince(since) << 47}
	if c == engine.Red {
		r.packed |= 1 << 63
	}
	if t.edge != nil {
		r.h = t.edge.Hash((*[engine.IDLen]byte)(id))
	}
	v, ok := uint64(0), false
	if t.deferred && onValid != nil {
		v, ok = packID(id)
	}
	if !ok {
		v = noID // OnValid sees it now
		if onValid != nil {
			onValid(id, c)
		}
	}
	r.packed |= v
	t.pending.add(r)
}

// noID marks a row whose ID OnValid has already seen.
const noID = 1<<47 - 1

// check merges early when the held rows outnumber twice the people (a
// sketch's estimate) plus minPending, and sets when to look again: the
// checks cost a pass over the sketch, so they come at geometric steps.
func (t *people) check(held int, onValid func([]byte, engine.Status)) {
	floor := t.min
	if floor <= 0 {
		floor = minPending
	}
	people := t.est.estimate()
	if held < 2*people+floor {
		t.nextCheck = 2*people + floor
		return
	}
	t.merge(onValid, false)
	t.deferred = true // OnValid would otherwise see every row of the repeats
	t.nextCheck = 2*len(t.run) + floor
}

// merge sorts the pending rows and merges them into the run, passing
// OnValid the rows whose IDs it was not passed at add. final drops the
// buffers a later merge would reuse.
func (t *people) merge(onValid func([]byte, engine.Status), final bool) {
	if t.pending.n == 0 {
		return
	}
	pending := t.pending.sortInto(t.sorted)
	if final {
		t.pending = chunks{} // its rows are in pending now
	} else {
		t.pending.reset()
	}
	run := t.run
	// At most each pending row is a new person: with room for that, the
	// output never grows while it is written, and a file of few people
	// reuses the same two arrays merge after merge.
	need := len(run) + len(pending)
	out := t.spare[:0]
	if cap(out) < need {
		t.spare, out = nil, make([]Record, 0, need)
	}
	// The edge hashes follow the records, one a person (a person's rows
	// all have the same ID, hence the same hash).
	hashed, runH, outH := t.edge != nil, t.runH, t.spareH[:0]
	if hashed && cap(outH) < need {
		t.spareH, outH = nil, make([]uint64, 0, need)
	}
	var idb [engine.IDLen]byte
	i := 0
	for j := 0; j < len(pending); {
		p := pending[j].p
		for i < len(run) && run[i].P < p {
			out = append(out, run[i])
			if hashed {
				outH = append(outH, runH[i])
			}
			i++
		}
		cur, h := Record{P: p}, pending[j].h
		if i < len(run) && run[i].P == p {
			cur = run[i]
			if hashed {
				h = runH[i]
			}
			i++
		}
		for ; j < len(pending) && pending[j].p == p; j++ {
			r := pending[j]
			if t.fold(&cur, r) && onValid != nil && r.packed&noID != noID {
				onValid(unpackID(r.packed&noID, &idb), r.color())
			}
		}
		out = append(out, cur)
		if hashed {
			outH = append(outH, h)
		}
	}
	out = append(out, run[i:]...)
	t.run, t.spare = out, run
	if hashed {
		t.runH, t.spareH = append(outH, runH[i:]...), runH
	}
	t.sorted = pending[:0]
	if final {
		t.spare, t.sorted, t.spareH = nil, nil, nil
	}
}

// fold merges row r into person cur (cur.seen == 0: the person's first
// row). It reports whether r is the first of its person in its colour: red
// beats yellow, the earliest known since at the kept colour wins, and
// duplicates and conflicts are counted as Report defines them.
func (t *people) fold(cur *Record, r pendingRow) bool {
	c, bit := r.color(), seenYellow
	if c == engine.Red {
		bit = seenRed
	}
	since := unpackSince(r.packed >> 47)
	switch {
	case cur.seen == 0:
		cur.Color, cur.Since, cur.seen = c, since, bit
	case cur.seen&bit != 0:
		t.duplicates++
		if c == cur.Color {
			cur.Since = earlierSince(cur.Since, since)
		}
		return false
	default:
		t.conflicts++ // the person's second colour: once per person
		cur.seen |= bit
		if c == engine.Red {
			cur.Color, cur.Since = engine.Red, since
		}
	}
	return true
}

// earlierSince is the earlier of two since days; an unknown one (NoDay)
// loses to any known one.
func earlierSince(a, b engine.Day) engine.Day {
	if a == engine.NoDay || b != engine.NoDay && b < a {
		return b
	}
	return a
}

// records merges what is pending and returns the people, sorted by
// pseudonym, filling in the report's counts; it empties t. onValid is as
// for add. With t.edge, hashes are the people's edge hashes, in the same
// order.
func (t *people) records(rep *Report, onValid func([]byte, engine.Status)) (out []Record, hashes []uint64) {
	t.merge(onValid, true)
	out, hashes = t.run, t.runH
	rep.Duplicates, rep.Conflicts, rep.Records = t.duplicates, t.conflicts, len(out)
	*t = people{}
	for i := range out {
		if out[i].Color == engine.Red {
			rep.Red++
		} else {
			rep.Yellow++
		}
		out[i].seen = 0
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, hashes
}

// packSince packs a since day (engine.MinSince..MaxSince, or NoDay) in 16
// bits.
func packSince(d engine.Day) uint64 {
	if d == engine.NoDay {
		return 1<<16 - 1
	}
	return uint64(d - engine.MinSince)
}

func unpackSince(v uint64) engine.Day {
	if v&(1<<16-1) == 1<<16-1 {
		return engine.NoDay
	}
	return engine.MinSince + engine.Day(v&(1<<16-1))
}

// idEpoch is the earliest birth date an ID may carry.
var idEpoch = engine.DateOf(1800, 1, 1)

// packID packs a valid ID's 17 digits in 47 bits: the address code (20
// bits), the birth date as days since 1800 (17 bits, to 2158) and the
// sequence number (10 bits). The check character follows from the digits
// and the edge filter hashes the digits alone, so it is left out. ok is
// false for what does not fit (never a valid ID of this era; the caller
// then passes the row on at once).
func packID(id []byte) (v uint64, ok bool) {
	if len(id) != engine.IDLen {
		return 0, false
	}
	num := func(b []byte) int {
		n := 0
		for _, c := range b {
			n = n*10 + int(c-'0')
		}
		return n
	}
	days := int64(engine.DateOf(num(id[6:10]), num(id[10:12]), num(id[12:14])) - idEpoch)
	if days < 0 || days >= 1<<17 {
		return 0, false
	}
	return uint64(num(id[0:6])) | uint64(days)<<20 | uint64(num(id[14:17]))<<37, true
}

// unpackID writes the ID packID packed into b.
func unpackID(v uint64, b *[engine.IDLen]byte) []byte {
	put := func(dst []byte, n int) {
		for k := len(dst) - 1; k >= 0; k-- {
			dst[k] = byte('0' + n%10)
			n /= 10
		}
	}
	y, m, d := (idEpoch + engine.Day(v>>20&(1<<17-1))).Civil()
	put(b[0:6], int(v&(1<<20-1)))
	put(b[6:10], y)
	put(b[10:12], m)
	put(b[12:14], d)
	put(b[14:17], int(v>>37&(1<<10-1)))
	b[17] = engine.CheckChar(b[:17])
	return b[:]
}

// chunks collects pending rows in chunks, and a histogram of their
// pseudonyms' top bytes, so that the first pass of the radix sort is also
// the one copy out of them (BenchmarkParse: growing one slice by append
// copied every row about four times and was a tenth of the time).
type chunks struct {
	full [][]pendingRow
	cur  []pendingRow
	free [][]pendingRow // emptied by reset, for the next rows
	n    int
	hist [256]int
}

const maxChunk = 1 << 16 // rows (1 MiB)

func (cs *chunks) add(r pendingRow) {
	if len(cs.cur) == cap(cs.cur) {
		cs.next()
	}
	cs.cur = append(cs.cur, r)
	cs.hist[byte(r.p>>56)]++
	cs.n++
}

//go:noinline
func (cs *chunks) next() {
	size := min(max(2*cap(cs.cur), 256), maxChunk)
	if cs.cur != nil {
		cs.full = append(cs.full, cs.cur)
	}
	if k := len(cs.free) - 1; k >= 0 {
		cs.cur, cs.free = cs.free[k], cs.free[:k]
		return
	}
	cs.cur = make([]pendingRow, 0, size)
}

// reset empties the chunks but keeps them for the next rows.
func (cs *chunks) reset() {
	for _, c := range append(cs.full, cs.cur) {
		if c != nil {
			cs.free = append(cs.free, c[:0])
		}
	}
	cs.full, cs.cur, cs.n, cs.hist = cs.full[:0], nil, 0, [256]int{}
}

// sortInto returns the rows sorted by pseudonym, in buf if it is large
// enough.
func (cs *chunks) sortInto(buf []pendingRow) []pendingRow {
	out := buf[:0]
	if cap(out) < cs.n {
		out = make([]pendingRow, cs.n)
	}
	out = out[:cs.n]
	var next [256]int
	sum := 0
	for b, c := range cs.hist {
		next[b] = sum
		sum += c
	}
	for _, chunk := range append(cs.full, cs.cur) {
		for _, r := range chunk {
			b := byte(r.p >> 56)
			out[next[b]] = r
			next[b]++
		}
	}
	lo := 0
	for b := range 256 {
		if hi := next[b]; hi-lo > 1 {
			radixSort(out[lo:hi], 48)
		}
		lo = next[b]
	}
	return out
}

// radixSort orders rows by pseudonym: an in-place MSD radix sort on the
// pseudonym's bytes from shift down (American flag sort), finished by
// insertion sort. Pseudonyms are uniform, so two levels leave runs of a few
// rows even for a million; the order among rows of one person does not
// matter (fold's result does not depend on it).
func radixSort(a []pendingRow, shift uint) {
	if len(a) <= 32 {
		for i := 1; i < len(a); i++ {
			r, j := a[i], i
			for ; j > 0 && r.p < a[j-1].p; j-- {
				a[j] = a[j-1]
			}
			a[j] = r
		}
		return
	}
	var count [256]int
	for i := range a {
		count[byte(a[i].p>>shift)]++
	}
	var next, end [256]int
	sum := 0
	for b := range 256 {
		next[b] = sum
		sum += count[b]
		end[b] = sum
	}
	for b := range 256 {
		for next[b] < end[b] {
			r := a[next[b]]
			for d := int(byte(r.p >> shift)); d != b; d = int(byte(r.p >> shift)) {
				a[next[d]], r = r, a[next[d]]
				next[d]++
			}
			a[next[b]] = r
			next[b]++
		}
	}
	if shift == 0 {
		return // each bucket holds one pseudonym
	}
	lo := 0
	for b := range 256 {
		if hi := end[b]; hi-lo > 1 {
			radixSort(a[lo:hi], shift-8)
		}
		lo = end[b]
	}
}
