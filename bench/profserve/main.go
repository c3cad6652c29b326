// Command profserve runs the hcx server in-process, as hcx serve does, and
// writes its CPU profile while a load generator drives it: the tool behind
// the profiles in the compare notes (hcx serve exposes no pprof endpoint).
//
//	go run ./bench/profserve --data DIR --listen 127.0.0.1:8090 --cpuprofile cpu.prof --seconds 10 &
//	hcx bench --url http://127.0.0.1:8090 --token T --data GEN --pipeline 16 --duration 8s
//	go tool pprof -top cpu.prof
//
// It is a separate program so that package bench stays independent of
// package server.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime/pprof"
	"time"

	"github.com/yrd-hcx/hcx/engine"
	"github.com/yrd-hcx/hcx/loader"
	"github.com/yrd-hcx/hcx/server"
)

func main() {
	data := flag.String("data", "./hcx-data", "data directory")
	listen := flag.String("listen", "127.0.0.1:8090", "address")
	cpu := flag.String("cpuprofile", "cpu.prof", "CPU profile to write")
	secs := flag.Int("seconds", 10, "profile this long after the listener is up, then exit")
	flag.Parse()
	if err := run(*data, *listen, *cpu, time.Duration(*secs)*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "profserve:", err)
		os.Exit(1)
	}
}

func run(data, listen, cpu string, d time.Duration) error {
	st, err := loader.Open(data, engine.NewCalendar(engine.CST, nil))
	if err != nil {
		return err
	}
	srv, err := server.New(server.Config{Store: st, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	go srv.Serve(ln)
	f, err := os.Create(cpu)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return err
	}
	time.Sleep(d)
	pprof.StopCPUProfile()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(ctx)
}
