package onvif

import (
	"encoding/xml"
	"fmt"
	"time"
)

// Replies, read by local element names.

type dateTime struct {
	Time struct {
		Hour   int `xml:"Hour"`
		Minute int `xml:"Minute"`
		Second int `xml:"Second"`
	} `xml:"Time"`
	Date struct {
		Year  int `xml:"Year"`
		Month int `xml:"Month"`
		Day   int `xml:"Day"`
	} `xml:"Date"`
}

func (d *dateTime) valid() bool {
	return d.Date.Year >= 1970 && d.Date.Year < 10000 && d.Date.Month >= 1 && d.Date.Month <= 12 &&
		d.Date.Day >= 1 && d.Date.Day <= 31 && d.Time.Hour >= 0 && d.Time.Hour < 24 &&
		d.Time.Minute >= 0 && d.Time.Minute < 60 && d.Time.Second >= 0 && d.Time.Second <= 60
}

func (d *dateTime) time() time.Time {
	return time.Date(d.Date.Year, time.Month(d.Date.Month), d.Date.Day, d.Time.Hour, d.Time.Minute, d.Time.Second, 0, time.UTC)
}

type systemDateAndTimeResponse struct {
	SystemDateAndTime struct {
		DateTimeType string    `xml:"DateTimeType"`
		TZ           string    `xml:"TimeZone>TZ"`
		UTC          *dateTime `xml:"UTCDateTime"`
		Local        *dateTime `xml:"LocalDateTime"`
	} `xml:"SystemDateAndTime"`
}

// cameraUTC is the camera's UTC time in the reply (its UTC field, else
// its local time taken as UTC: a camera without a UTC field is off by at
// most its zone, which the offset then carries).
func (r *systemDateAndTimeResponse) cameraUTC() (time.Time, error) {
	s := &r.SystemDateAndTime
	if s.UTC != nil && s.UTC.valid() {
		return s.UTC.time(), nil
	}
	if s.Local != nil && s.Local.valid() {
		return s.Local.time(), nil
	}
	return time.Time{}, fmt.Errorf("%w: no valid date and time", ErrBadReply)
}

type capabilitiesResponse struct {
	Capabilities struct {
		Device struct {
			XAddr string `xml:"XAddr"`
		} `xml:"Device"`
		Media struct {
			XAddr string `xml:"XAddr"`
		} `xml:"Media"`
	} `xml:"Capabilities"`
}

type servicesResponse struct {
	Service []struct {
		Namespace string `xml:"Namespace"`
		XAddr     string `xml:"XAddr"`
	} `xml:"Service"`
}

type deviceInformationResponse struct {
	Manufacturer    string `xml:"Manufacturer"`
	Model           string `xml:"Model"`
	FirmwareVersion string `xml:"FirmwareVersion"`
	SerialNumber    string `xml:"SerialNumber"`
	HardwareID      string `xml:"HardwareId"`
}

// Profile is a media profile.
type Profile struct {
	Token    string
	Name     string
	Encoding string
	Width    int
	Height   int
}

type profilesResponse struct {
	Profiles []struct {
		Token string `xml:"token,attr"`
		Name  string `xml:"Name"`
		VEC   struct {
			Encoding   string `xml:"Encoding"`
			Resolution struct {
				Width  int `xml:"Width"`
				Height int `xml:"Height"`
			} `xml:"Resolution"`
		} `xml:"VideoEncoderConfiguration"`
	} `xml:"Profiles"`
}

type streamURIResponse struct {
	MediaURI struct {
		URI string `xml:"Uri"`
	} `xml:"MediaUri"`
}

type emptyResponse struct {
	XMLName xml.Name
}
