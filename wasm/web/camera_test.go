//go:build !js && !wasip1

package web

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/yrd-hcx/hcx/internal/qrcode"
)

// The camera: Chromium's fake capture device plays a Y4M video of a QR
// code made here (--use-file-for-fake-video-capture), and the page must
// read it and answer.

var (
	decoderOnce sync.Once
	decoderDir  string
	decoderErr  error
)

// decoderFiles builds the QR decoder as make wasm does (qr/build.sh,
// from the lockfile) once per test binary and adds it to the site.
func decoderFiles(t *testing.T, s *site) {
	t.Helper()
	decoderOnce.Do(func() {
		dir, err := os.MkdirTemp("", "hcx-qr-")
		if err != nil {
			decoderErr = err
			return
		}
		decoderDir = dir
		if out, err := exec.Command("bash", "qr/build.sh", dir).CombinedOutput(); err != nil {
			decoderErr = &buildError{err, string(out)}
		}
	})
	if decoderErr != nil {
		t.Fatalf("qr/build.sh (needs npm and the npm registry, or npm's cache): %v", decoderErr)
	}
	for _, f := range []string{"zxing-reader.js", "zxing_reader.wasm"} {
		s.files[f] = filepath.Join(decoderDir, f)
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// qrVideo writes a Y4M video of text as the QR code hcx draws for a
// health code (internal/qrcode: level Q, the smallest version), dark on a
// white 640x480 frame, scaled by a whole factor like a phone held up to
// the camera.
func qrVideo(t *testing.T, text string) string {
	t.Helper()
	q, err := qrcode.Encode(text)
	if err != nil {
		t.Fatal(err)
	}
	const W, H = 640, 480
	n := q.Size() + 2*qrcode.Quiet
	scale := (H - 40) / n
	ox, oy := (W-n*scale)/2, (H-n*scale)/2
	y := make([]byte, W*H)
	for i := range y {
		y[i] = 235 // white paper under a camera is not 255
	}
	for py := range n * scale {
		for px := range n * scale {
			if q.Black(px/scale-qrcode.Quiet, py/scale-qrcode.Quiet) {
				y[(oy+py)*W+ox+px] = 20
			}
		}
	}
	path := filepath.Join(t.TempDir(), "qr.y4m")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n")
	chroma := make([]byte, W*H/2)
	for i := range chroma {
		chroma[i] = 128
	}
	for range 10 {
		w.WriteString("FRAME\n")
		w.Write(y)
		w.Write(chroma)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// cameraFlags give Chromium a camera that plays video, and say yes to
// the page's request for it.
func cameraFlags(video string) []chromedp.ExecAllocatorOption {
	return []chromedp.ExecAllocatorOption{
		chromedp.Flag("use-fake-ui-for-media-stream", true),
		chromedp.Flag("use-fake-device-for-media-stream", true),
		chromedp.Flag("use-file-for-fake-video-capture", video),
	}
}

// TestCamera: #scan starts the camera; the QR of a listed ID shown to it
// is read (by BarcodeDetector, or the ZXing decoder where the browser has
// none, as on desktop Linux) and answered; the decode time per frame is
// logged.
func TestCamera(t *testing.T) {
	s := newSite(t)
	decoderFiles(t, s)
	ctx := browser(t, cameraFlags(qrVideo(t, s.red[0]))...)
	tab, p := s.openTab(t, ctx, "/#token="+s.tokens[edgeRole]+"&scan", true)
	if p.Status != "red" || p.Probable != "true" {
		t.Fatalf("camera: %+v", p)
	}
	logScan(t, tab)
}

// logScan logs which decoder the page used and its time per frame: for
// the first frames (the decoder's first use included) and, after two more
// seconds of scanning, for the frames since.
func logScan(t *testing.T, tab context.Context) {
	t.Helper()
	type stats struct {
		Decoder  string
		Frames   int
		DecodeMs float64
	}
	read := func() stats {
		st, err := chromedp.Run(tab, chromedp.Evaluate[stats](`window.hcxScan`))
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	first := read()
	if first.Frames == 0 || first.Decoder == "" {
		t.Fatalf("no frame read: %+v", first)
	}
	time.Sleep(2 * time.Second)
	later := read()
	n := later.Frames - first.Frames
	t.Logf("camera: %s, first %d frames %.1f ms a frame, then %d frames %.1f ms a frame (640x480)", first.Decoder,
		first.Frames, first.DecodeMs/float64(first.Frames), n, (later.DecodeMs-first.DecodeMs)/float64(max(n, 1)))
}

// TestCameraNoDecoder: where the browser has no BarcodeDetector and the
// server no QR decoder, the page says so and releases the camera (every
// track it was given ends); IDs are still answered.
func TestCameraNoDecoder(t *testing.T) {
	s := newSite(t) // without decoderFiles
	ctx := browser(t, cameraFlags(qrVideo(t, s.red[0]))...)
	tab, cancel := chromedp.NewContext(ctx)
	defer cancel()
	// Keep every stream the page is given, to see that it stops them.
	keep := `(() => { const md = navigator.mediaDevices, gum = md && md.getUserMedia.bind(md); window.__streams = [];
  if (gum) md.getUserMedia = (c) => gum(c).then((s) => (window.__streams.push(s), s)); })()`
	if err := chromedp.Do(tab, func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		return chromedp.Void{}, tg.Call(ctx, "Page.addScriptToEvaluateOnNewDocument", map[string]any{"source": keep}, nil)
	}, chromedp.Navigate(s.front.URL+"/#token="+s.tokens[edgeRole]+"&scan&id="+s.red[0])); err != nil {
		t.Fatal(err)
	}
	if p, err := chromedp.Run(tab, chromedp.Evaluate[page](settled(true), chromedp.EvalAwaitPromise)); err != nil || p.Status != "red" {
		t.Fatalf("%+v %v", p, err)
	}
	got, err := chromedp.Run(tab, chromedp.Evaluate[string](`new Promise((resolve) => {
  const t0 = Date.now();
  (function poll() {
    const msg = document.getElementById("scan-state").textContent, v = document.getElementById("camera");
    const live = window.__streams.flatMap((s) => s.getTracks()).filter((tr) => tr.readyState !== "ended").length;
    if ("BarcodeDetector" in window) return resolve("has BarcodeDetector");
    if (msg.includes("QR decoder") && v.hidden && window.__streams.length > 0 && live === 0 &&
        document.getElementById("scan").getAttribute("aria-pressed") === "false") return resolve("ok");
    if (Date.now() - t0 > 20000) return resolve("state: " + msg + ", streams " + window.__streams.length + ", live tracks " + live);
    setTimeout(poll, 50);
  })();
})`, chromedp.EvalAwaitPromise))
	if err != nil || (got != "ok" && got != "has BarcodeDetector") {
		t.Fatalf("%q %v", got, err)
	}
}
