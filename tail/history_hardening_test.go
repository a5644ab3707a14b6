package tail

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A hostile --history server's status line must not reach the terminal raw.
func TestHistoryRefusalStatusIsTerminalSafe(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 4096)
		c.Read(buf)
		c.Write([]byte("HTTP/1.1 403 \x1b]0;owned\x07\x1b[2J\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"))
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = History{Addr: ln.Addr().String(), Last: 1}.Run(ctx, func(string, []byte) {})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.ContainsRune(err.Error(), 0x1b) {
		t.Fatalf("the error zmqtail prints holds the server's escape sequences: %q", err.Error())
	}
}

// A redirect is not followed: the token is never sent to an address the
// user did not give, and the refusal says so.
func TestHistoryDoesNotFollowRedirectsWithTheToken(t *testing.T) {
	elsewhere := make(chan string, 4)
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case elsewhere <- r.Header.Get("Authorization"):
		default:
		}
		http.Error(w, "not here", http.StatusNotFound) // ends a followed Run at once
	}))
	defer other.Close()
	first := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, other.URL+"/api/stream", http.StatusFound)
	}))
	defer first.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := History{Addr: first.URL, Token: "s3cret", Last: 1}.Run(ctx, func(string, []byte) {})
	if !errors.Is(err, ErrHistory) || !strings.Contains(err.Error(), "redirect") {
		t.Fatalf("a redirect: %v; want ErrHistory saying redirects are not followed", err)
	}
	select {
	case auth := <-elsewhere:
		t.Fatalf("the redirect was followed, Authorization %q", auth)
	default:
	}
}

// One event larger than twice the largest entry expected is refused, not
// buffered.
func TestHistoryRefusesAnEventOverItsBound(t *testing.T) {
	big := "event: entries\ndata: " + strings.Repeat("x", 2<<10+256<<10+1) + "\n\n"
	var after uint64
	called := false
	err := readEvents(strings.NewReader(big), maxEvent(1<<10), func([]byte) error { called = true; return nil }, &after)
	if !errors.Is(err, bufio.ErrTooLong) || called {
		t.Fatalf("an event of 2 KiB + 256 KiB + 1 with MaxEntry 1 KiB: %v (delivered: %v); want bufio.ErrTooLong", err, called)
	}
	if maxEvent(0) != 2*(4<<20)+256<<10 {
		t.Fatalf("default bound %d", maxEvent(0))
	}
}
