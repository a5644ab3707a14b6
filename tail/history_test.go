package tail

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHistory serves positions 1…total as a collector's stream does, one
// entry an event, and drops each connection after perConn events: the
// tail must resume after the last position it got, never repeating or
// skipping one.
type fakeHistory struct {
	total, perConn int
	mu             sync.Mutex
	queries        []string
}

func (f *fakeHistory) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.queries = append(f.queries, r.URL.RawQuery)
	f.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer t0k" {
		http.Error(w, "a token is required", http.StatusUnauthorized)
		return
	}
	from := 1
	if a := r.URL.Query().Get("after"); a != "" {
		n, _ := strconv.Atoi(a)
		from = n + 1
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for seq := from; seq <= f.total && seq < from+f.perConn; seq++ {
		// Every third position is one the filters dropped: only the id
		// carries it.
		if seq%3 == 0 {
			fmt.Fprintf(w, "id: %d\nevent: entries\ndata: {\"missed\":0,\"entries\":[]}\n\n", seq)
			continue
		}
		fmt.Fprintf(w, "id: %d\nevent: entries\ndata: {\"missed\":0,\"entries\":[{\"seq\":%d,\"t\":1,\"topic\":\"INFO.a\",\"entry\":{\"n\":%d}}]}\n\n", seq, seq, seq)
	}
	w.(http.Flusher).Flush()
	if from+f.perConn > f.total {
		<-r.Context().Done() // caught up: the live stream stays open
	}
}

func TestHistoryResumesAfterTheLastPositionAcrossReconnects(t *testing.T) {
	defer func(d time.Duration) { historyRetry = d }(historyRetry)
	historyRetry = time.Millisecond
	f := &fakeHistory{total: 50, perConn: 7}
	srv := httptest.NewServer(f)
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var got []string
	var status strings.Builder
	done := make(chan error)
	go func() {
		done <- History{Addr: srv.URL, Token: "t0k", Last: 10, Level: "info", Status: &status, Name: "zmqtail"}.Run(ctx, func(topic string, entry []byte) {
			got = append(got, string(entry))
			if len(got) == 34 { // the positions not divisible by 3, up to 50
				cancel()
			}
		})
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	var want []string
	for n := 1; n <= 50; n++ {
		if n%3 != 0 {
			want = append(want, fmt.Sprintf(`{"n":%d}`, n))
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("printed %v\nwant    %v", got, want)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if q := f.queries[0]; !strings.Contains(q, "last=10") || !strings.Contains(q, "level=info") {
		t.Errorf("first request %q: want last=10 and level=info", q)
	}
	for i, q := range f.queries[1:] {
		if !strings.Contains(q, "after="+strconv.Itoa(7*(i+1))) || strings.Contains(q, "last=") {
			t.Errorf("request %d: %q, want after=%d and no last", i+2, q, 7*(i+1))
		}
	}
}

func TestHistoryRefusedIsAnError(t *testing.T) {
	srv := httptest.NewServer(&fakeHistory{total: 1, perConn: 1})
	defer srv.Close()
	err := History{Addr: srv.URL}.Run(context.Background(), func(string, []byte) {})
	if err == nil || !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "a token is required") {
		t.Fatalf("without the token: %v", err)
	}
}
