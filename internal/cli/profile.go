package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// userConfigMaxBytes bounds the user config file: it is a handful of
// profiles, and a bigger file is a mistake, not something to load.
const userConfigMaxBytes = 1 << 20

// userConfig is the user's client settings file:
//
//	current: dev
//	profiles:
//	  dev:
//	    brokers: [localhost:9092]
//	  prod:
//	    brokers: kafka-1:9092,kafka-2:9092
type userConfig struct {
	Current  string             `yaml:"current,omitempty"`
	Profiles map[string]profile `yaml:"profiles,omitempty"`
}

type profile struct {
	Brokers brokerList `yaml:"brokers"`
}

// brokerList accepts a YAML list or one comma-separated string, because
// both are natural to write by hand.
type brokerList []string

func (b *brokerList) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		var s string
		if err := n.Decode(&s); err != nil {
			return err
		}
		*b = strings.Split(s, ",")
		return nil
	}
	var list []string
	if err := n.Decode(&list); err != nil {
		return err
	}
	*b = list
	return nil
}

// userConfigPath is $XDG_CONFIG_HOME/gregor/config.yaml, falling back to
// $HOME/.config/gregor/config.yaml.
func (a *app) userConfigPath() string {
	dir := a.getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home := a.getenv("HOME")
		if home == "" {
			home, _ = os.UserHomeDir()
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "gregor", "config.yaml")
}

// loadUserConfig reads the file; a missing file is an empty config.
func loadUserConfig(path string) (*userConfig, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &userConfig{Profiles: map[string]profile{}}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("user config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, userConfigMaxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("user config %s: %w", path, err)
	}
	if len(data) > userConfigMaxBytes {
		return nil, fmt.Errorf("user config %s: larger than %d bytes", path, userConfigMaxBytes)
	}
	var cfg userConfig
	if err := yaml.Unmarshal(data, &cfg); err != nil {
		return nil, fmt.Errorf("user config %s: %v", path, err)
	}
	if cfg.Profiles == nil {
		cfg.Profiles = map[string]profile{}
	}
	return &cfg, nil
}

// editUserConfig loads the user config, lets edit change it and saves it;
// when edit fails nothing is saved.
func (a *app) editUserConfig(edit func(path string, cfg *userConfig) error) error {
	path := a.userConfigPath()
	cfg, err := loadUserConfig(path)
	if err != nil {
		return err
	}
	if err := edit(path, cfg); err != nil {
		return err
	}
	return saveUserConfig(path, cfg)
}

// requireProfile is a usage error unless cfg, read from path, has a
// profile named name.
func requireProfile(path string, cfg *userConfig, name string) error {
	if _, ok := cfg.Profiles[name]; !ok {
		return usageErrorf("no profile named %q in %s", name, path)
	}
	return nil
}

// saveUserConfig replaces the file atomically (write, sync, rename), so an
// interrupted save never leaves half a file behind.
func saveUserConfig(path string, cfg *userConfig) error {
	data, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("user config: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("user config: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".config-*.yaml")
	if err != nil {
		return fmt.Errorf("user config: %w", err)
	}
	defer os.Remove(tmp.Name()) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("user config: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("user config: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("user config: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("user config: %w", err)
	}
	return nil
}

func (a *app) profileCommand() *cobra.Command {
	list := &cobra.Command{
		Use:     "list",
		Short:   "List the profiles of the user config file",
		Example: "  gregor profile list",
		Args:    exactArgs(),
		RunE: action(func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadUserConfig(a.userConfigPath())
			if err != nil {
				return err
			}
			names := make([]string, 0, len(cfg.Profiles))
			for n := range cfg.Profiles {
				names = append(names, n)
			}
			sort.Strings(names)
			t := newTable(a.stdout, "CURRENT", "NAME", "BROKERS")
			for _, n := range names {
				mark := ""
				if n == cfg.Current {
					mark = "*"
				}
				t.row(mark, n, strings.Join(cfg.Profiles[n].Brokers, ","))
			}
			return t.flush()
		}),
	}
	use := &cobra.Command{
		Use:     "use NAME",
		Short:   "Make a profile the current one",
		Example: "  gregor profile use prod",
		Args:    exactArgs("NAME"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			err := a.editUserConfig(func(path string, cfg *userConfig) error {
				if err := requireProfile(path, cfg, args[0]); err != nil {
					return err
				}
				cfg.Current = args[0]
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "current profile: %s\n", args[0])
			return nil
		}),
	}
	var makeCurrent bool
	set := &cobra.Command{
		Use:   "set NAME --brokers HOST:PORT[,HOST:PORT...]",
		Short: "Create or update a profile",
		Example: `  gregor profile set local --brokers localhost:9092 --use
  gregor profile set prod -b kafka-1:9092,kafka-2:9092`,
		Args: exactArgs("NAME"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("brokers") {
				return usageErrorf("profile set needs --brokers")
			}
			brokers, err := cleanBrokers(a.brokersFlag)
			if err != nil {
				return err
			}
			err = a.editUserConfig(func(_ string, cfg *userConfig) error {
				cfg.Profiles[args[0]] = profile{Brokers: brokers}
				if makeCurrent || len(cfg.Profiles) == 1 {
					cfg.Current = args[0]
				}
				return nil
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "profile %s: brokers %s\n", args[0], strings.Join(brokers, ","))
			return nil
		}),
	}
	set.Flags().BoolVar(&makeCurrent, "use", false, "also make it the current profile")
	del := &cobra.Command{
		Use:     "delete NAME",
		Short:   "Delete a profile",
		Example: "  gregor profile delete old",
		Args:    exactArgs("NAME"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			return a.editUserConfig(func(path string, cfg *userConfig) error {
				if err := requireProfile(path, cfg, args[0]); err != nil {
					return err
				}
				delete(cfg.Profiles, args[0])
				if cfg.Current == args[0] {
					cfg.Current = ""
				}
				return nil
			})
		}),
	}
	cmd := newGroup("profile", "Manage named broker profiles in the user config file",
		"  gregor profile set local --brokers localhost:9092 --use\n  gregor profile list",
		list, use, set, del)
	cmd.Long = `Profiles name sets of brokers, kept in $XDG_CONFIG_HOME/gregor/config.yaml
(or ~/.config/gregor/config.yaml):

  current: local
  profiles:
    local:
      brokers: [localhost:9092]

Client commands use the current profile unless --brokers, --profile or
GREGOR_BROKERS says otherwise.`
	a.addClientFlags(cmd)
	return cmd
}
