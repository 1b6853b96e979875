package cmdline

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		name, line string
		cameras    []string
		ip, data   string
		selftest   bool
		nerr       int
	}{
		{name: "none", line: "console=ttyAMA0 quiet"},
		{name: "cameras", line: "console=ttyAMA0 matthan.camera=cam1=rtsp://10.0.2.2:8554/cam1 matthan.camera=cam2=rtsp://10.0.2.2:8554/cam2",
			cameras: []string{"cam1=rtsp://10.0.2.2:8554/cam1", "cam2=rtsp://10.0.2.2:8554/cam2"}},
		{name: "bad camera kept out", line: "matthan.camera=cam1 matthan.camera=c/1=rtsp://x matthan.camera=ok=http://x matthan.camera=a=rtsp://h/p",
			cameras: []string{"a=rtsp://h/p"}, nerr: 3},
		{name: "ip and data", line: "matthan.ip=192.168.1.5/24,192.168.1.1 matthan.data=matthan-data matthan.selftest=1",
			ip: "192.168.1.5/24,192.168.1.1", data: "matthan-data", selftest: true},
		{name: "dhcp", line: "matthan.ip=dhcp", ip: "dhcp"},
		{name: "bad ip", line: "matthan.ip=300.1.1.1/24 matthan.data=../x", nerr: 2},
		{name: "quoted", line: `foo="a b" matthan.selftest`, selftest: true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			s, errs := Parse(tt.line)
			if len(errs) != tt.nerr {
				t.Errorf("got %d errors %v, want %d", len(errs), errs, tt.nerr)
			}
			var got []string
			for _, c := range s.Cameras {
				got = append(got, c.Flag())
			}
			if strings.Join(got, " ") != strings.Join(tt.cameras, " ") {
				t.Errorf("cameras = %v, want %v", got, tt.cameras)
			}
			if s.IP != tt.ip || s.DataPart != tt.data || s.SelfTest != tt.selftest {
				t.Errorf("got ip=%q data=%q selftest=%v, want %q %q %v", s.IP, s.DataPart, s.SelfTest, tt.ip, tt.data, tt.selftest)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	f.Add("console=ttyAMA0 matthan.camera=cam1=rtsp://10.0.2.2:8554/cam1 matthan.ip=dhcp")
	f.Add(`matthan.ip="10.0.0.1/8,10.0.0.254" matthan.data=x matthan.listen=:8080`)
	f.Add("matthan.camera==rtsp:// \"")
	f.Fuzz(func(t *testing.T, line string) {
		s, _ := Parse(line)
		for _, c := range s.Cameras {
			if !validName(c.Name) || !strings.HasPrefix(c.URL, "rtsp://") {
				t.Fatalf("accepted bad camera %+v", c)
			}
		}
	})
}

func TestGrowCut(t *testing.T) {
	s, errs := Parse("quiet matthan.test.growcut=primary")
	if len(errs) != 0 || s.GrowCut != "primary" {
		t.Errorf("growcut=primary: %q %v", s.GrowCut, errs)
	}
	if s, errs := Parse("matthan.test.growcut=everything"); len(errs) != 1 || s.GrowCut != "" {
		t.Errorf("growcut=everything: %q %v, want an error", s.GrowCut, errs)
	}
}

func TestParseClock(t *testing.T) {
	for _, tt := range []struct {
		line  string
		ntp   string
		noRTC bool
		nerr  int
	}{
		{line: "quiet"},
		{line: "matthan.ntp=10.0.2.2:40123,pool.ntp.org matthan.rtc=off", ntp: "10.0.2.2:40123,pool.ntp.org", noRTC: true},
		{line: "matthan.rtc=on matthan.ntp=off", ntp: "off"},
		{line: `matthan.ntp="a b" matthan.rtc=maybe matthan.ntp=`, nerr: 3},
	} {
		s, errs := Parse(tt.line)
		if s.NTP != tt.ntp || s.NoRTC != tt.noRTC || len(errs) != tt.nerr {
			t.Errorf("Parse(%q): ntp %q noRTC %v errors %v; want %q %v %d", tt.line, s.NTP, s.NoRTC, errs, tt.ntp, tt.noRTC, tt.nerr)
		}
	}
}
