package collector

import (
	"errors"
	"fmt"

	"github.com/zmqlog/zmqlog/internal/zcert"
	"github.com/zmqlog/zmqlog/internal/zsock"
)

// CurveError is a CURVE setting the collector cannot work with: a missing
// or exposed key file, a setting that needs another, or one that
// contradicts another. Field names the Config field.
type CurveError struct {
	Field string // CurveSecret, CurveClients, CurveAnyClient, CurveTails, ForwardCurveServer or ForwardCurveSecret
	Err   error
}

func (e *CurveError) Error() string { return fmt.Sprintf("collector: Config.%s: %v", e.Field, e.Err) }
func (e *CurveError) Unwrap() error { return e.Err }

// curveSetup is what the CURVE settings turn into: the server side of
// both ports (nil: NULL security), the allow-list behind it (nil: any
// client), and the client side of the forward socket (nil: NULL).
type curveSetup struct {
	server  *zsock.CurveConfig // the PULL port's
	pub     *zsock.CurveConfig // the PUB port's: server's, or its own allow-list (CurveTails)
	forward *zsock.CurveConfig
}

// loadCurve checks the CURVE settings and reads their key files. Every
// combination that would leave a port open by mistake is an error: a
// server key with no word on which clients to take, an allow-list or
// any-client with no server key, or both an allow-list and any-client.
func (c *Collector) loadCurve(cfg *Config) (curveSetup, error) {
	var s curveSetup
	switch {
	case cfg.CurveSecret == "" && cfg.CurveClients != "":
		return s, &CurveError{"CurveClients", errors.New("an allow-list of client keys needs the collector's own secret key (Config.CurveSecret)")}
	case cfg.CurveSecret == "" && cfg.CurveAnyClient:
		return s, &CurveError{"CurveAnyClient", errors.New("taking any CURVE client needs the collector's own secret key (Config.CurveSecret)")}
	case cfg.CurveSecret != "" && cfg.CurveClients == "" && !cfg.CurveAnyClient:
		return s, &CurveError{"CurveSecret", errors.New("say which clients may connect: Config.CurveClients (a directory of their *.key files) or Config.CurveAnyClient (any client: encrypted, but anyone holding the server's public key may send and read)")}
	case cfg.CurveSecret == "" && cfg.CurveTails != "":
		return s, &CurveError{"CurveTails", errors.New("an allow-list of tails needs the collector's own secret key (Config.CurveSecret)")}
	case cfg.CurveClients != "" && cfg.CurveAnyClient:
		return s, &CurveError{"CurveAnyClient", errors.New("contradicts Config.CurveClients: give one of them")}
	case (cfg.ForwardCurveServer == "") != (cfg.ForwardCurveSecret == ""):
		field := "ForwardCurveServer"
		if cfg.ForwardCurveServer != "" {
			field = "ForwardCurveSecret"
		}
		return s, &CurveError{field, errors.New("CURVE to the next tier needs both its public key (Config.ForwardCurveServer) and this collector's secret key (Config.ForwardCurveSecret)")}
	case cfg.ForwardCurveServer != "" && cfg.Forward == "":
		return s, &CurveError{"ForwardCurveServer", errors.New("set, but Config.Forward names no next tier")}
	}
	if cfg.CurveSecret != "" {
		pair, err := zcert.LoadSecret(cfg.CurveSecret)
		if err != nil {
			return s, &CurveError{"CurveSecret", err}
		}
		s.server = &zsock.CurveConfig{SecretKey: pair.Secret}
		if cfg.CurveClients != "" {
			if s.server.Authorize, err = c.allowList(cfg.CurveClients); err != nil {
				return s, &CurveError{"CurveClients", err}
			}
		}
		s.pub = s.server
		if cfg.CurveTails != "" {
			s.pub = &zsock.CurveConfig{SecretKey: pair.Secret}
			if s.pub.Authorize, err = c.allowList(cfg.CurveTails); err != nil {
				return s, &CurveError{"CurveTails", err}
			}
		}
	}
	if cfg.ForwardCurveServer != "" {
		server, err := zcert.LoadPublic(cfg.ForwardCurveServer)
		if err != nil {
			return s, &CurveError{"ForwardCurveServer", err}
		}
		pair, err := zcert.LoadSecret(cfg.ForwardCurveSecret)
		if err != nil {
			return s, &CurveError{"ForwardCurveSecret", err}
		}
		s.forward = &zsock.CurveConfig{SecretKey: pair.Secret, ServerKey: server}
		if err := s.forward.Validate(); err != nil {
			return s, &CurveError{"ForwardCurveServer", err}
		}
	}
	return s, nil
}

// allowList reads a directory of allowed client keys, to be re-read when
// it changes, and returns the check a CURVE server asks.
func (c *Collector) allowList(dir string) (func([32]byte) bool, error) {
	list, err := zcert.OpenAllowList(dir, zcert.AllowListOptions{Reloaded: c.allowListRead})
	if err != nil {
		return nil, err
	}
	return func(client [32]byte) bool { return list.Allowed(client) }, nil
}

// allowListRead logs each reading of the allow-list directory: how many
// keys it holds now, and each file it skipped.
func (c *Collector) allowListRead(r zcert.AllowListReport) {
	c.cfg.Log.Info("CURVE allow-list read", "dir", r.Dir, "keys", r.Keys, "files", r.Files, "skipped", len(r.Skipped))
	for _, err := range r.Skipped {
		c.report("curve_clients", err)
	}
}
