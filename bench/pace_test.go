//go:build !race

package bench_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/yrd-hcx/hcx/bench"
)

// TestOpenModelSendLag: the pacer sends on time. Go's timers are about a
// millisecond late on Linux, which a pacer sleeping with time.Sleep would
// add to every latency; against a server that answers at once, the median
// send lag and latency stay well under that. A machine busy with other work
// can starve any client for a while, so it has three tries: time.Sleep
// never gets there. Not under the race detector, whose instrumentation
// slows the client several times over.
func TestOpenModelSendLag(t *testing.T) {
	_, day := testDay(t, 2000)
	f := fakeFor(day)
	url := f.start(t, true)
	var failures []string
	for range 3 {
		res, err := bench.Run(context.Background(), bench.Config{URL: url, Connections: 8,
			Duration: time.Second, Warmup: 200 * time.Millisecond, Rate: 2000, Queries: bench.Mix(day, 1000, 0.01, 1)})
		if err != nil {
			t.Fatal(err)
		}
		if res.Failed() {
			t.Fatalf("errors %v wrong %d", res.ErrorsByKind, res.WrongAnswers)
		}
		rep := res.Report()
		rate := res.RequestsPerSec()
		if rep.SendLagMS != nil && rep.SendLagMS.P50 <= 0.3 && rep.LatencyMS.P50 <= 0.5 && res.Late == 0 && rate >= 1900 && rate <= 2010 {
			return
		}
		failures = append(failures, fmt.Sprintf("send lag %+v, latency p50 %.3f ms, %.0f requests/s, %d late", rep.SendLagMS, rep.LatencyMS.P50, rate, res.Late))
	}
	t.Errorf("want median send lag <= 0.3 ms, latency <= 0.5 ms, 2000 requests/s, none late; got\n%s", strings.Join(failures, "\n"))
}
