package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/matthan/matthan/firmware/bundle"
	"github.com/matthan/matthan/image/push"
	"golang.org/x/sys/unix"
)

// pushUpdate is matthan-flash -update.
func pushUpdate(box, file, user, fp string, insecure, yes bool) error {
	if file == "" || user == "" {
		return errors.New("usage: matthan-flash -update https://BOX:8443 -bundle FILE -user TECHNICIAN -fingerprint SHA256")
	}
	pw := os.Getenv("MATTHAN_PASSWORD")
	if pw == "" {
		fmt.Fprintf(os.Stderr, "Mật khẩu của / password of %s: ", user)
		fd := int(os.Stdin.Fd())
		if t, err := unix.IoctlGetTermios(fd, unix.TCGETS); err == nil { // a terminal: no echo
			quiet := *t
			quiet.Lflag &^= unix.ECHO
			unix.IoctlSetTermios(fd, unix.TCSETS, &quiet)
			defer unix.IoctlSetTermios(fd, unix.TCSETS, t)
		}
		line, err := bufio.NewReader(os.Stdin).ReadString('\n')
		fmt.Fprintln(os.Stderr)
		if err != nil && line == "" {
			return fmt.Errorf("read password: %w", err)
		}
		pw = strings.TrimRight(line, "\r\n")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	in := bufio.NewReader(os.Stdin)
	o := push.Options{Box: strings.TrimRight(box, "/"), User: user, Password: pw, Fingerprint: fp, InsecureTLS: insecure, Progress: os.Stdout,
		Confirm: func(m *bundle.Manifest) bool {
			if yes {
				return true
			}
			fmt.Printf("Cài %s lên hộp và khởi động lại? / Install %s and restart the box? [y/N] ", m.Release.Version, m.Release.Version)
			ans, _ := in.ReadString('\n')
			return strings.HasPrefix(strings.ToLower(strings.TrimSpace(ans)), "y") || strings.HasPrefix(strings.ToLower(strings.TrimSpace(ans)), "c")
		}}
	c, err := push.Login(ctx, o)
	if err != nil {
		return err
	}
	_, err = c.Push(ctx, file)
	return err
}
