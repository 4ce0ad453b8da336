package main

import (
	"errors"

	"github.com/spf13/cobra"
)

// serveConfig holds the serve.* keys.
type serveConfig struct {
	Listen      string `mapstructure:"listen"`
	AdminListen string `mapstructure:"admin_listen"`
	Addressing  string `mapstructure:"addressing"`
	Bucket      string `mapstructure:"bucket"`
}

var serveKeys = []configKey{
	{"serve.listen", ":8080", "address the mirror listens on"},
	{"serve.admin_listen", "127.0.0.1:9091", "address of /metrics, /healthz, /readyz"},
	{"serve.addressing", "domain", "domain (the path is the key) or path (/bucket/key)"},
	{"serve.bucket", "", "bucket name expected in path addressing"},
}

func newServeCmd(a *app) *cobra.Command {
	c := &cobra.Command{
		Use:   "serve",
		Short: "Run the lazy mirror proxy (not implemented yet)",
		Args:  usageArgs(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("serve is not implemented yet")
		},
	}
	f := c.Flags()
	f.String("listen", ":8080", "address to listen on")
	bindKey(f, "listen", "serve.listen")
	return c
}
