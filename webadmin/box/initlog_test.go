package box

import (
	"bufio"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"testing"
)

func TestInitLogLines(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "init.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		if l, _ := bufio.NewReader(c).ReadString('\n'); l != "log\n" {
			fmt.Fprintf(c, "bad request %q\n", l)
			return
		}
		for i := 1; i <= 10; i++ {
			fmt.Fprintf(c, "matthand| line %d\n", i)
		}
	}()
	got := initLog{socket: sock}.LogLines(3)
	if strings.Join(got, ",") != "matthand| line 8,matthand| line 9,matthand| line 10" {
		t.Errorf("got %q", got)
	}
	if got := (initLog{}).LogLines(3); len(got) != 1 || !strings.Contains(got[0], "MATTHAN_INIT_SOCKET") {
		t.Errorf("without init: %q", got)
	}
	if got := (initLog{socket: sock + ".gone"}).LogLines(3); len(got) != 1 || !strings.Contains(got[0], "init log") {
		t.Errorf("socket gone: %q", got)
	}
}
