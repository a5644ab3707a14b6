package collector

import (
	"fmt"

	"github.com/zmqlog/zmqlog/collector/vlsink"
	"github.com/zmqlog/zmqlog/wire"
)

// openVictoriaLogs makes the VictoriaLogs sink if Config.VictoriaLogs asks
// for one, following the store file (or fed by the store when there is
// none), and has the store write each line's producer into it.
func (c *Collector) openVictoriaLogs() error {
	if c.cfg.VictoriaLogs == "" {
		return nil
	}
	urls, err := vlsink.ParseURLs(c.cfg.VictoriaLogs)
	if err != nil {
		return &EndpointError{"VictoriaLogs", err}
	}
	vc := vlsink.Config{URLs: urls, Gzip: c.cfg.VictoriaLogsGzip, FileMode: c.cfg.FileMode, Report: c.report, StoredEntries: c.store.storedTotal.Load}
	if c.cfg.File != "" {
		vc.StoreFile, vc.CursorFile = c.cfg.File, c.cfg.File+".vlcursor"
	}
	if c.vl, err = vlsink.New(vc); err != nil {
		return fmt.Errorf("collector: Config.VictoriaLogs: %w", err)
	}
	c.store.sink = c.vl
	return nil
}

// producerStamp is what the store writes into each line of b when lines
// go to VictoriaLogs: its producer. A plain message has none.
func (c *Collector) producerStamp(b *wire.Batch) []byte {
	if c.vl == nil || b.Plain {
		return nil
	}
	return vlsink.Stamp(b.Producer.App, b.Producer.Host, b.Producer.PID)
}

func (c *Collector) startVictoriaLogs() {
	if c.vl != nil {
		c.vl.Start()
	}
}

// closeVictoriaLogs sends what is left within Config.VictoriaLogsDrain and
// saves the cursor.
func (c *Collector) closeVictoriaLogs() {
	if c.vl != nil {
		c.vl.Close(max(c.cfg.VictoriaLogsDrain, 0))
	}
}

// VictoriaLogsStats returns the VictoriaLogs sink's counters, and false
// when the collector is not sending to VictoriaLogs.
func (c *Collector) VictoriaLogsStats() (vlsink.Stats, bool) {
	if c.vl == nil {
		return vlsink.Stats{}, false
	}
	return c.vl.Stats(), true
}

// closeSockets closes what New bound, when a later step fails.
func (c *Collector) closeSockets() {
	c.pull.Close()
	if c.pub != nil {
		c.pub.Close()
	}
	if c.forward != nil {
		c.forward.Close()
	}
}
