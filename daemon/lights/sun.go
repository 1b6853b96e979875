// Package lights drives the box's lights and reads its button through GPIO
// (periph.io): the infrared LEDs, on at night (from the board's light sensor
// when it has one, else from sunrise and sunset at the box's location) with
// hysteresis and a manual override; the status LED, whose blink patterns
// tell a technician at a glance how the box is (see README.md); and the
// pairing button, debounced.
//
// Pins are periph gpio.PinIn / gpio.PinOut interfaces: the real board opens
// them with board.OpenPin (OpenBoard), the tests use periph's gpiotest.
package lights

import (
	"math"
	"time"
)

// Location is where the box is, for sunrise and sunset.
type Location struct {
	Name      string
	Latitude  float64 // degrees north
	Longitude float64 // degrees east
	Zone      *time.Location
}

// LongBinh is the default location: Long Bình, Long Mỹ, Hậu Giang (UTC+7).
var LongBinh = Location{Name: "Long Bình, Long Mỹ, Hậu Giang", Latitude: 9.68, Longitude: 105.57,
	Zone: time.FixedZone("ICT", 7*3600)}

// SunTimes returns sunrise and sunset on the local calendar day of day at
// loc (the upper limb of the sun on the horizon with standard refraction,
// zenith 90.833°). ok is false where the sun does not rise or set that day.
func SunTimes(day time.Time, loc Location) (rise, set time.Time, ok bool) {
	zone := loc.Zone
	if zone == nil {
		zone = time.UTC
	}
	d := day.In(zone)
	midnight := time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, zone)
	// Julian day at local noon, and days since J2000.
	noon := midnight.Add(12 * time.Hour)
	jd := float64(noon.Unix())/86400 + 2440587.5
	n := math.Round(jd - 2451545.0 + 0.0008)
	// Mean solar noon, solar mean anomaly, equation of the centre.
	jStar := n - loc.Longitude/360
	m := math.Mod(357.5291+0.98560028*jStar, 360)
	mr := m * math.Pi / 180
	c := 1.9148*math.Sin(mr) + 0.0200*math.Sin(2*mr) + 0.0003*math.Sin(3*mr)
	lambda := math.Mod(m+c+180+102.9372, 360) * math.Pi / 180
	jTransit := 2451545.0 + jStar + 0.0053*math.Sin(mr) - 0.0069*math.Sin(2*lambda)
	sinDecl := math.Sin(lambda) * math.Sin(23.4397*math.Pi/180)
	cosDecl := math.Cos(math.Asin(sinDecl))
	lat := loc.Latitude * math.Pi / 180
	cosH := (math.Sin(-0.833*math.Pi/180) - math.Sin(lat)*sinDecl) / (math.Cos(lat) * cosDecl)
	if cosH < -1 || cosH > 1 {
		return time.Time{}, time.Time{}, false
	}
	h := math.Acos(cosH) * 180 / math.Pi
	toTime := func(j float64) time.Time {
		sec := (j - 2440587.5) * 86400
		return time.Unix(int64(sec), int64((sec-math.Floor(sec))*1e9)).In(zone).Truncate(time.Second)
	}
	return toTime(jTransit - h/360), toTime(jTransit + h/360), true
}
