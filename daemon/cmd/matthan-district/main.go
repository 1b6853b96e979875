// Command matthan-district is the district side of Mắt Thần: it consumes
// the events and health of every commune box from the district's NATS
// server (JetStream) into its own search index, fetches clips from the
// boxes on request, and serves the district page (webadmin/district)
// over HTTPS.
//
//	matthan-district -data DIR -nats nats://127.0.0.1:4222 -nats-user district [-listen :8443]
//	matthan-district -data DIR -add-user NAME -role technician|officer   (password on stdin)
//	matthan-district -print-server-config -box xa-an-binh=UABC… [-box …]   (the NATS server's configuration)
//
// The NATS password comes from $MATTHAN_DISTRICT_NATS_PASSWORD.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/matthan/matthan/daemon/auth"
	"github.com/matthan/matthan/daemon/evidence"
	"github.com/matthan/matthan/daemon/federation"
	"github.com/matthan/matthan/webadmin"
	"github.com/matthan/matthan/webadmin/district"
)

type boxFlags []federation.BoxUser

func (b *boxFlags) String() string { return "" }
func (b *boxFlags) Set(v string) error {
	id, key, ok := strings.Cut(v, "=")
	if !ok {
		return errors.New("want BOX=NKEY")
	}
	*b = append(*b, federation.BoxUser{Box: id, NKey: key})
	return nil
}

func main() {
	fs := flag.NewFlagSet("matthan-district", flag.ContinueOnError)
	data := fs.String("data", "/var/lib/matthan-district", "data folder (index, accounts, audit log, clips)")
	natsURL := fs.String("nats", "nats://127.0.0.1:4222", "the district's NATS server")
	natsUser := fs.String("nats-user", "district", "NATS user of the district service")
	natsCA := fs.String("nats-ca", "", "CA certificate of the NATS server (PEM), makes TLS required")
	listen := fs.String("listen", "127.0.0.1:8443", "HTTPS address of the page")
	addUser := fs.String("add-user", "", "create this account (password on stdin) and exit")
	role := fs.String("role", "officer", "role of -add-user: officer or technician")
	printConf := fs.Bool("print-server-config", false, "print the recommended nats-server configuration and exit")
	storeDir := fs.String("store-dir", "/var/lib/nats", "with -print-server-config: JetStream's folder")
	natsListen := fs.String("nats-listen", "0.0.0.0:4222", "with -print-server-config: the server's address")
	var boxes boxFlags
	fs.Var(&boxes, "box", "with -print-server-config: BOX=NKEY (the box user's public NKey), repeated")
	if err := fs.Parse(os.Args[1:]); err != nil {
		os.Exit(2)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *data, *natsURL, *natsUser, *natsCA, *listen, *addUser, auth.Role(*role), *printConf, *storeDir, *natsListen, boxes); err != nil {
		fmt.Fprintf(os.Stderr, "matthan-district: %v\n", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, data, natsURL, natsUser, natsCA, listen, addUser string, role auth.Role, printConf bool, storeDir, natsListen string, boxes boxFlags) error {
	if printConf {
		conf, err := federation.ServerConfig(natsListen, storeDir, natsUser, "CHANGE-ME (the service password)", boxes, "", "")
		if err != nil {
			return err
		}
		fmt.Print(conf)
		return nil
	}
	if addUser != "" {
		pw, _ := bufio.NewReader(os.Stdin).ReadString('\n')
		pw = strings.TrimRight(pw, "\r\n")
		if err := auth.CheckPasswordPolicy(pw); err != nil {
			return err
		}
		st, err := auth.OpenStore(filepath.Join(data, "page", "accounts.json"), auth.DefaultHashParams)
		if err != nil {
			return err
		}
		return st.CreateUser(addUser, pw, role, "")
	}
	d, err := federation.OpenDistrict(federation.DistrictOptions{URL: natsURL, User: natsUser, Password: os.Getenv("MATTHAN_DISTRICT_NATS_PASSWORD"),
		CAFile: natsCA, DataDir: data, Logf: func(f string, a ...any) { log.Info(fmt.Sprintf(f, a...)) }})
	if err != nil {
		return err
	}
	defer d.Close()
	key, err := evidence.LoadOrCreateKey(filepath.Join(data, federation.KeyFile))
	if err != nil {
		return err
	}
	page, err := district.New(district.Config{DataDir: filepath.Join(data, "page"), Core: d, Index: d.Index, Key: key, Logger: log})
	if err != nil {
		return err
	}
	defer page.Close()
	host, _, _ := net.SplitHostPort(listen)
	cert, fp, err := webadmin.LoadOrCreateCert(filepath.Join(data, "page"), []string{host})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	hs := webadmin.NewHTTPServer(page, webadmin.Timeouts{}, slog.NewLogLogger(log.Handler(), slog.LevelDebug))
	hs.TLSConfig = webadmin.TLSConfig(cert)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(tls.NewListener(ln, hs.TLSConfig)) }()
	log.Info("matthan-district ready", "https", "https://"+ln.Addr().String(), "cert_sha256", fp, "district_key", d.PublicKey())
	select {
	case <-ctx.Done():
	case err := <-errc:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	return hs.Shutdown(sctx)
}
