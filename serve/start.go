package serve

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/ferry-migrate/ferry/mirror"
	"github.com/ferry-migrate/ferry/store"
)

// Config is what `ferry serve` needs, as plain values; Run opens the target,
// the journal and the mirror from it and wires them into a Server.
type Config struct {
	TargetURL   string
	JournalPath string         // fill outcomes are appended here ("": not journaled); its directory is created
	Fetch       mirror.Options // origin fetches; Run sets Target, Journal, Observer and Logger
	Server      Options        // the server; Run sets Target, Mirror and Metrics (when nil)
}

// Run opens what c names, serves until ctx is cancelled, drains (see
// Server.Run) and closes everything. It returns nil after a graceful drain;
// errors: the target, the journal or the mirror could not be opened, the
// options are invalid, a listener failed.
func Run(ctx context.Context, c Config) error {
	target, err := store.Open(ctx, c.TargetURL)
	if err != nil {
		return err
	}
	defer target.Close()
	var journal *mirror.Journal
	if c.JournalPath != "" {
		if err := os.MkdirAll(filepath.Dir(c.JournalPath), 0o755); err != nil {
			return fmt.Errorf("state dir: %w", err)
		}
		if journal, err = mirror.OpenJournal(c.JournalPath); err != nil {
			return fmt.Errorf("journal %s: %w", c.JournalPath, err)
		}
		defer journal.Close()
	}
	so := c.Server
	if so.Metrics == nil {
		so.Metrics = NewMetrics()
	}
	if so.Logger == nil {
		so.Logger = slog.New(slog.DiscardHandler)
	}
	fo := c.Fetch
	fo.Target, fo.Journal, fo.Observer, fo.Logger = target, journal, so.Metrics.MirrorObserver(), so.Logger
	m, err := mirror.New(fo)
	if err != nil {
		return err
	}
	// Before serving: a fill of this process must not look like one of the
	// dead process whose uploads are swept.
	if _, err := m.SweepJournal(ctx); err != nil {
		so.Logger.Warn("sweeping the uploads of interrupted fills", "journal", c.JournalPath, "err", err)
	}
	so.Target, so.Mirror = target, m
	srv, err := New(so)
	if err != nil {
		_ = m.Close()
		return err
	}
	so.Logger.Info("serve", "target", store.Redact(c.TargetURL), "journal", c.JournalPath)
	// Server.Run shuts the mirror down after the drain; Close covers a
	// listener that failed.
	if err := srv.Run(ctx); err != nil {
		_ = m.Close()
		return err
	}
	return nil
}
