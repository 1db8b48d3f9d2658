package cli

import (
	"log/slog"

	"github.com/gregor-log/gregor/internal/broker"
	"github.com/gregor-log/gregor/internal/config"
)

// newNode opens a broker from cfg.
func newNode(cfg *config.Config, logger *slog.Logger) (node, error) {
	b, err := broker.New(cfg, logger)
	if err != nil {
		return nil, err
	}
	return b, nil
}
