// Command teamtalkd is the TeamTalk appliance: it reads the config, opens the
// data directory, runs the services under the supervisor, serves the control
// API on a unix socket and handles signals (TERM/INT: drain and stop; HUP:
// reload the live settings).
//
//	teamtalkd [-config FILE] [-data DIR] [-socket PATH] [-set KEY=VALUE]... [-log-json]
//	teamtalkd -print-config | -check-config | -version
//	teamtalkd -init-db   (create TeamTalk's tables in the MySQL store and exit)
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"teamtalk/appliance"
	"teamtalk/appliance/config"
	"teamtalk/appliance/ctlserver"
	"teamtalk/appliance/sdnotify"
	"teamtalk/state"
	"teamtalk/state/records"
)

// storeOpenTimeout bounds connecting to a MySQL store (and creating its
// schema) at start.
const storeOpenTimeout = time.Minute

// defaultConfigFile is read when it exists and -config is not given.
const defaultConfigFile = "/etc/teamtalk/teamtalkd.toml"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

type setFlags []string

func (s *setFlags) String() string     { return strings.Join(*s, " ") }
func (s *setFlags) Set(v string) error { *s = append(*s, v); return nil }

// options are the parsed command line.
type options struct {
	configFile, dataDir, socket string
	sets                        setFlags
	printConfig, checkConfig    bool
	logJSON, version            bool
	initDB                      bool
}

func run(args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	var o options
	fs := flag.NewFlagSet("teamtalkd", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.configFile, "config", "", "config file (default "+defaultConfigFile+" if it exists, else built-in defaults)")
	fs.StringVar(&o.dataDir, "data", "", "data directory (overrides data_dir)")
	fs.StringVar(&o.socket, "socket", "", "control socket (default $RUNTIME_DIRECTORY/teamtalkd.sock under systemd, else DATA/teamtalkd.sock)")
	fs.Var(&o.sets, "set", "override a config key: KEY=VALUE, VALUE in TOML (repeatable)")
	fs.BoolVar(&o.printConfig, "print-config", false, "print the effective config and exit")
	fs.BoolVar(&o.checkConfig, "check-config", false, "validate the config, print problems, exit 0 or 1")
	fs.BoolVar(&o.logJSON, "log-json", false, "log JSON lines (overrides log.format)")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.BoolVar(&o.initDB, "init-db", false, "create TeamTalk's tables in the store.mysql.dsn database (skipping those that exist) and exit")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "teamtalkd: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	if o.version {
		fmt.Fprintln(stdout, "teamtalkd", appliance.Version)
		return 0
	}
	cfg, cfgFile, err := loadConfig(o, getenv)
	if err != nil {
		fmt.Fprintf(stderr, "teamtalkd: %v\n", err)
		return 1
	}
	switch {
	case o.checkConfig:
		fmt.Fprintf(stdout, "teamtalkd: config ok (%s)\n", orDefaults(cfgFile))
		return 0
	case o.initDB:
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		ctx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
		defer cancel()
		where, err := appliance.InitDatabase(ctx, cfg, log)
		if err != nil {
			fmt.Fprintf(stderr, "teamtalkd: %v\n", err)
			return 1
		}
		fmt.Fprintf(stdout, "teamtalkd: TeamTalk schema ready in %s\n", where)
		return 0
	case o.printConfig:
		b, err := cfg.Encode()
		if err != nil {
			fmt.Fprintf(stderr, "teamtalkd: %v\n", err)
			return 1
		}
		stdout.Write(b)
		return 0
	}
	var level slog.LevelVar
	level.UnmarshalText([]byte(cfg.Log.Level))
	hopts := &slog.HandlerOptions{Level: &level}
	var h slog.Handler = slog.NewTextHandler(stderr, hopts)
	if o.logJSON || cfg.Log.Format == "json" {
		h = slog.NewJSONHandler(stderr, hopts)
	}
	log := slog.New(h)
	if err := serve(o, cfg, cfgFile, log, &level, getenv); err != nil {
		log.Error("teamtalkd failed", "err", err)
		fmt.Fprintf(stderr, "teamtalkd: %v\n", err)
		return 1
	}
	return 0
}

func orDefaults(f string) string {
	if f == "" {
		return "built-in defaults"
	}
	return f
}

// loadConfig reads the file (if any) and applies -data, -socket and -set.
func loadConfig(o options, getenv func(string) string) (*config.Config, string, error) {
	file := o.configFile
	if file == "" {
		if _, err := os.Stat(defaultConfigFile); err == nil {
			file = defaultConfigFile
		}
	}
	var ovs []config.Override
	if o.dataDir != "" {
		ovs = append(ovs, config.StringOverride("data_dir", o.dataDir, "-data"))
	}
	if o.socket != "" {
		ovs = append(ovs, config.StringOverride("control.socket", o.socket, "-socket"))
	}
	for _, s := range o.sets {
		ov, err := config.ParseSet(s)
		if err != nil {
			return nil, "", err
		}
		ovs = append(ovs, ov)
	}
	cfg, err := config.Load(file, ovs)
	if err != nil {
		return nil, file, err
	}
	if cfg.Control.Socket == "" {
		dir := cfg.DataDir
		if rd := getenv("RUNTIME_DIRECTORY"); rd != "" {
			dir, _, _ = strings.Cut(rd, ":")
		}
		cfg.Control.Socket = filepath.Join(dir, "teamtalkd.sock")
		if len(cfg.Control.Socket) > ctlserver.MaxSocketPath {
			return nil, file, fmt.Errorf("control socket %s is over 107 bytes: give a shorter -socket", cfg.Control.Socket)
		}
	}
	return cfg, file, nil
}

// serve runs the appliance until a stop signal.
func serve(o options, cfg *config.Config, cfgFile string, log *slog.Logger, level *slog.LevelVar, getenv func(string) string) error {
	tuneRuntime(cfg.Runtime, getenv, log)
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	rec, err := records.Open(filepath.Join(cfg.DataDir, "appliance.db"), records.Options{
		MaxEvents: cfg.Supervisor.EventsKept, MaxSamples: cfg.Supervisor.HistoryKept,
	})
	if err != nil {
		return err
	}
	defer rec.Close()
	var store state.Store
	if appliance.NeedsStore(cfg) {
		openCtx, cancel := context.WithTimeout(context.Background(), storeOpenTimeout)
		store, err = appliance.OpenStore(openCtx, cfg, log)
		cancel()
		if err != nil {
			return err
		}
		defer store.Close()
	}
	sup, err := appliance.New(appliance.Options{
		Config: cfg, Logger: log, LogLevel: level, Records: rec, Store: store,
		ConfigFile: cfgFile, Socket: cfg.Control.Socket,
	})
	if err != nil {
		return err
	}
	ln, err := ctlserver.Listen(cfg.Control.Socket)
	if err != nil {
		return err
	}
	notify := sdnotify.New(getenv)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	ctlCtx, stopCtl := context.WithCancel(context.Background())
	ctlDone := make(chan error, 1)
	go func() { ctlDone <- ctlserver.New(sup, log.With("svc", "ctl")).Serve(ctlCtx, ln) }()
	defer func() {
		stopCtl()
		if err := <-ctlDone; err != nil {
			log.Error("control api", "err", err)
		}
	}()
	log.Info("control api listening", "socket", cfg.Control.Socket)

	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bg, stopBg := context.WithCancel(context.Background())
	bgDone := make(chan struct{})
	defer func() { stopBg(); <-bgDone }()
	go func() {
		defer close(bgDone)
		background(bg, o, sup, hup, notify, log, getenv)
	}()

	err = sup.Run(ctx, func() {
		if err := notify.Ready(); err != nil {
			log.Warn("sd_notify", "err", err)
		}
		notify.Status(fmt.Sprintf("%d services", len(cfg.Enabled())))
	})
	notify.Stopping()
	if err == nil && ctx.Err() != nil {
		log.Info("stopped cleanly")
	}
	return err
}

// background handles SIGHUP reloads and the systemd watchdog until ctx is done.
func background(ctx context.Context, o options, sup *appliance.Supervisor, hup <-chan os.Signal, notify *sdnotify.Notifier, log *slog.Logger, getenv func(string) string) {
	var wd <-chan time.Time
	if every, ok := sdnotify.WatchdogInterval(getenv, os.Getpid()); ok && notify != nil {
		t := time.NewTicker(every)
		defer t.Stop()
		wd = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-wd:
			notify.Watchdog()
		case <-hup:
			notify.Reloading()
			cfg, _, err := loadConfig(o, getenv)
			if err != nil {
				log.Error("reload refused; keeping the running config", "err", err)
				notify.Ready()
				continue
			}
			applied, restart := sup.Reload(cfg)
			if len(restart) > 0 {
				log.Warn("these changes need a restart of teamtalkd", "keys", restart)
			}
			_ = applied
			notify.Ready()
		}
	}
}
