package web_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/zmqlog/zmqlog/collector"
	"github.com/zmqlog/zmqlog/collector/web"
)

// The page of a collector, on loopback: everything it serves carries a
// Content-Security-Policy that runs only the page's own script, and a
// request naming another host (DNS rebinding) is refused.
func ExampleListen() {
	cfg := collector.Defaults()
	cfg.Pull, cfg.Pub, cfg.File = "tcp://127.0.0.1:0", "tcp://127.0.0.1:0", ""
	c, err := collector.New(cfg)
	if err != nil {
		panic(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ran := make(chan error)
	go func() { ran <- c.Run(ctx) }()
	defer func() { stop(); <-ran }()

	srv, err := web.Listen(c, web.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		panic(err)
	}
	go srv.Serve()
	defer srv.Close()

	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	res, err := client.Get(srv.URL())
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.Status, res.Header.Get("X-Content-Type-Options"))

	req, _ := http.NewRequest("GET", srv.URL(), nil)
	req.Host = "rebound.example:9559"
	res, err = client.Do(req)
	if err != nil {
		panic(err)
	}
	res.Body.Close()
	fmt.Println(res.Status)
	// Output:
	// 200 OK nosniff
	// 421 Misdirected Request
}
