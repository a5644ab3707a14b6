package tail

import (
	"context"
	"fmt"

	"github.com/zmqlog/zmqlog/internal/zsock"
)

// Follow subscribes to one or more publishers (comma-separated endpoints,
// such as a collector's tcp://127.0.0.1:5558) for topics starting with any
// of prefixes (all topics when there are none) and calls fn with each
// message's topic and entry until ctx ends. It re-dials and re-subscribes
// by itself after a publisher restarts. The collector's heartbeat arrives
// on its own topic like any other message.
func Follow(ctx context.Context, endpoints string, prefixes []string, fn func(topic string, entry []byte)) error {
	eps, err := zsock.ParseEndpoints(endpoints)
	if err != nil {
		return fmt.Errorf("tail: %w", err)
	}
	if len(prefixes) == 0 {
		prefixes = []string{""}
	}
	sub := zsock.DialSub(eps, prefixes, zsock.Options{})
	defer sub.Close()
	for {
		m, err := sub.Recv(ctx)
		if err != nil {
			return nil
		}
		switch len(m.Frames) {
		case 1:
			fn("", m.Frames[0])
		case 2:
			fn(string(m.Frames[0]), m.Frames[1])
		}
	}
}
