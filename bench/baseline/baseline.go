// Package baseline is what the comparison's bare servers share: a Go map of
// a generated day and the answer they write. They answer the hcx lookup
// routes with the same JSON prefix ({"id":masked,"status":colour}) but
// without auth, metrics, staleness or sources: the floor that hcx's extra
// work is measured against (make compare).
package baseline

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime/debug"

	"github.com/yrd-hcx/hcx/bench"
)

// Flags are the baselines' command line.
type Flags struct {
	Listen string
	Data   string
}

// ParseFlags reads --listen and --data.
func ParseFlags(name string) Flags {
	var f Flags
	fs := flag.NewFlagSet(name, flag.ExitOnError)
	fs.StringVar(&f.Listen, "listen", "127.0.0.1:8081", "address to listen on")
	fs.StringVar(&f.Data, "data", "", "directory of generated daily files; empty serves an empty map (for the memory baseline)")
	fs.Parse(os.Args[1:])
	return f
}

// Load reads the day in dir (nil map for ""), then returns the parsing
// garbage to the OS so that the RSS measures the map.
func Load(dir string) (map[bench.ID]bench.Colour, error) {
	m := map[bench.ID]bench.Colour{}
	if dir != "" {
		day, err := bench.LoadDay(dir)
		if err != nil {
			return nil, err
		}
		m = day.Colours
	}
	debug.FreeOSMemory()
	return m, nil
}

var colourJSON = [...]string{bench.Unknown: "", bench.Green: `green"}`, bench.Yellow: `yellow"}`, bench.Red: `red"}`}

// ErrInvalid is an ID that is not 18 characters with a right check
// character.
var ErrInvalid = errors.New("invalid id")

// Append appends the answer for raw, one JSON object and a newline.
func Append(dst []byte, m map[bench.ID]bench.Colour, raw []byte) ([]byte, error) {
	var id bench.ID
	if len(raw) != bench.IDLen {
		return dst, ErrInvalid
	}
	copy(id[:], raw)
	if id[17] == 'x' {
		id[17] = 'X'
	}
	for _, c := range id[:17] {
		if c < '0' || c > '9' {
			return dst, ErrInvalid
		}
	}
	if bench.CheckChar(id[:17]) != id[17] {
		return dst, ErrInvalid
	}
	c, ok := m[id]
	if !ok {
		c = bench.Green
	}
	dst = append(dst, `{"id":"`...)
	dst = append(dst, id[:4]...)
	dst = append(dst, "**********"...)
	dst = append(dst, id[14:]...)
	dst = append(dst, `","status":"`...)
	dst = append(dst, colourJSON[c]...)
	return append(dst, '\n'), nil
}

// Ready prints the line the compare script waits for.
func Ready(name, addr string, n int) {
	fmt.Printf("%s: %d records, listening on %s\n", name, n, addr)
}
