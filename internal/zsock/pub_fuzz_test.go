package zsock

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/zmqlog/zmqlog/internal/zmtpraw"
)

// subscriptionSeeds are what a SUB peer may send a publisher after the
// handshake; FuzzSubscriptions starts from them and from the files in
// testdata/fuzz/FuzzSubscriptions.
func subscriptionSeeds() map[string][]byte {
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	sub := func(topic string) []byte { return frame(0, append([]byte{1}, topic...)) }
	cancel := func(topic string) []byte { return frame(0, append([]byte{0}, topic...)) }
	command := func(name, topic string) []byte {
		return frame(flagCommand, append(append([]byte{byte(len(name))}, name...), topic...))
	}
	many := func(n int) []byte {
		var b []byte
		for i := range n {
			b = append(b, sub(string(rune('a'+i)))...)
		}
		return b
	}
	return map[string][]byte{
		"zmtp30":           cat(sub("ERROR"), sub("ERR"), cancel("ERROR"), sub("")),
		"zmtp31":           cat(command("SUBSCRIBE", "ERROR"), command("PING", "\x00\x0actx"), command("CANCEL", "ERROR"), command("SUBSCRIBE", "")),
		"counted":          cat(sub("INFO"), sub("INFO"), cancel("INFO"), cancel("INFO"), cancel("INFO"), sub("INFO")),
		"shared-prefixes":  cat(sub("INFO.api"), sub("INFO.app"), sub("INFO"), cancel("INFO.app"), sub("INFO.a"), cancel("INFO"), sub("I")),
		"over-count":       many(fuzzMaxSubscriptions + 1),
		"over-bytes":       cat(sub("0123456789012345678901234567890123456789"), sub("0123456789012345678901234567890")),
		"cancel-then-room": cat(many(fuzzMaxSubscriptions), cancel("a"), sub("z"), sub("y")),
		"not-subscriptions": cat(frame(0, []byte("\x07data")), frame(flagMore, []byte("\x01A")), frame(0, []byte("B")),
			frame(0, nil), command("READY", ""), sub("ok")),
		"command-with-more": cat(sub("A"), frame(flagCommand|flagMore, []byte("\x09SUBSCRIBEB"))),
		"bad-command-name":  cat(sub("A"), frame(flagCommand, []byte("\x20SUB"))),
		"announces-2^62":    cat(sub("A"), []byte{flagLong, 0x40, 0, 0, 0, 0, 0, 0, 0}),
		"truncated":         cat(sub("A"), frame(0, []byte("\x01BCDEF"))[:4]),
		"binary-topics":     cat(sub("\x00"), sub("\xff\x00"), sub("\x00\xff"), cancel("\x00"), sub("")),
	}
}

// The fuzzed publisher's limits: small, so that inputs reach them. The
// publisher-wide one leaves the fuzzed subscriber room for
// fuzzPublisherRoom distinct topics (of fewer than 40 bytes each) beside
// what the other subscriber holds.
const (
	fuzzMaxSubscriptions, fuzzMaxSubscriptionBytes = 8, 64
	fuzzPublisherRoom                              = 6
)

// fuzzOtherTopics are held by a second subscriber, so that the
// publisher's index is checked with two subscribers sharing its nodes.
var fuzzOtherTopics = []string{"A", "AB", "\x00", "INFO"}

// FuzzSubscriptions: whatever a SUB peer sends after the handshake
// (ZMTP 3.0 subscription messages, 3.1 SUBSCRIBE and CANCEL commands,
// anything else), the publisher never panics, never holds more
// subscriptions or topic bytes than its limits (and refuses exactly the
// subscription that would pass them), its trie agrees with the
// counted-map model on what it holds and on what matches, and its index
// over all subscribers matches exactly the subscribers the models match,
// each once, and charges exactly their distinct topics.
func FuzzSubscriptions(f *testing.F) {
	for _, seed := range subscriptionSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, peer []byte) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		script := append(zmtpraw.Handshake("SUB"), peer...)
		c, err := handshake(ctx, &scriptedConn{r: bytes.NewReader(script)}, zmq4.Pub, true, Options{HandshakeTimeout: time.Second}.withDefaults())
		if err != nil {
			t.Fatalf("handshake: %v", err)
		}
		other, otherModel := &subscriber{}, subModel{}
		for _, topic := range fuzzOtherTopics {
			otherModel.add(topic)
		}
		p := newPublisher(Options{
			MaxSubscriptions: fuzzMaxSubscriptions, MaxSubscriptionBytes: fuzzMaxSubscriptionBytes,
			MaxPublisherSubscriptionBytes: otherModel.cost() + fuzzPublisherRoom*subscriptionCost(strings.Repeat("x", 39)),
		}.withDefaults())
		p.a = &acceptor{}
		for _, topic := range fuzzOtherTopics {
			if err := p.change(other, subscriptionChange{subscribe: true, topic: topic}); err != nil {
				t.Fatal(err)
			}
		}
		s := &subscriber{c: c}
		model := subModel{}
		for {
			ch, err := p.readChange(s)
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) &&
					!errors.Is(err, ErrMessageTooLarge) && !errors.Is(err, errBadCommand) {
					t.Fatalf("unexpected read error %v", err)
				}
				return
			}
			count, size := model.totals()
			held := model.cost() + otherModel.cost()
			over := ch.subscribe && (count+1 > fuzzMaxSubscriptions || size+len(ch.topic) > fuzzMaxSubscriptionBytes ||
				model[ch.topic] == 0 && held+subscriptionCost(ch.topic) > p.opts.MaxPublisherSubscriptionBytes)
			err = p.change(s, ch)
			if over != errors.Is(err, ErrOverSubscribed) || err != nil && !over {
				t.Fatalf("subscribing to %q with %d subscriptions of %d bytes in force (publisher: %d bytes): %v", ch.topic, count, size, held, err)
			}
			if over {
				return // the publisher disconnects it
			}
			if ch.subscribe {
				model.add(ch.topic)
			} else {
				model.remove(ch.topic)
			}
			if s.topics.len() > fuzzMaxSubscriptions || s.topics.size() > fuzzMaxSubscriptionBytes {
				t.Fatalf("%d subscriptions of %d bytes in force, over the limits", s.topics.len(), s.topics.size())
			}
			topic := []byte(ch.topic)
			probes := [][]byte{topic, topic[:len(topic)/2], append(topic, 'x'), []byte("ABC"), nil, peer}
			checkAgainstModel(t, &s.topics, model, probes...)
			checkIndexAgainstModels(t, &p.index, map[*subscriber]subModel{s: model, other: otherModel}, probes...)
		}
	})
}
