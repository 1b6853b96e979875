package disks

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// SMART verdicts (Health.SMART).
const (
	SMARTPassed      = "passed"
	SMARTFailing     = "failing"
	SMARTUnavailable = "unavailable"
)

// SMARTStatus asks the drive behind dev for its SMART verdict (SMART RETURN
// STATUS) through the USB bridge with a SCSI ATA PASS-THROUGH(16) command
// (SAT), the way smartctl -d sat does. Bridges that do not pass ATA
// commands (and UAS/SCSI disks, and QEMU's usb-storage) answer otherwise:
// "unavailable", with the reason.
func SMARTStatus(dev string) (string, error) {
	f, err := os.OpenFile(dev, os.O_RDONLY|unix.O_NONBLOCK, 0)
	if err != nil {
		return SMARTUnavailable, fmt.Errorf("smart: %w", err)
	}
	defer f.Close()
	cdb := [16]byte{
		0x85,    // ATA PASS-THROUGH(16)
		3 << 1,  // protocol: non-data
		0x20,    // CK_COND: return the ATA registers in the sense data
		0, 0xDA, // features: SMART RETURN STATUS
		0, 0, // count
		0, 0, // LBA low
		0, 0x4F, // LBA mid
		0, 0xC2, // LBA high
		0,    // device
		0xB0, // command: SMART
		0,    // control
	}
	var sense [64]byte
	hdr := sgIOHdr{
		InterfaceID:    'S',
		DxferDirection: -1, // SG_DXFER_NONE
		CmdLen:         uint8(len(cdb)),
		MxSbLen:        uint8(len(sense)),
		Cmdp:           uintptr(unsafe.Pointer(&cdb[0])),
		Sbp:            uintptr(unsafe.Pointer(&sense[0])),
		Timeout:        10000, // ms
	}
	if _, _, e := unix.Syscall(unix.SYS_IOCTL, f.Fd(), sgIO, uintptr(unsafe.Pointer(&hdr))); e != 0 {
		return SMARTUnavailable, fmt.Errorf("smart: SG_IO: %w", e)
	}
	verdict, ok := parseSATSense(sense[:min(int(hdr.SbLenWr), len(sense))])
	if !ok {
		return SMARTUnavailable, fmt.Errorf("smart: the bridge returned no ATA registers (status %#x, host %#x, driver %#x)", hdr.Status, hdr.HostStatus, hdr.DriverStatus)
	}
	return verdict, nil
}

const sgIO = 0x2285

// sgIOHdr is struct sg_io_hdr (scsi/sg.h); Go lays it out as C does.
type sgIOHdr struct {
	InterfaceID    int32
	DxferDirection int32
	CmdLen         uint8
	MxSbLen        uint8
	IovecCount     uint16
	DxferLen       uint32
	Dxferp         uintptr
	Cmdp           uintptr
	Sbp            uintptr
	Timeout        uint32
	Flags          uint32
	PackID         int32
	UsrPtr         uintptr
	Status         uint8
	MaskedStatus   uint8
	MsgStatus      uint8
	SbLenWr        uint8
	HostStatus     uint16
	DriverStatus   uint16
	Resid          int32
	Duration       uint32
	Info           uint32
}

// parseSATSense reads the ATA registers SMART RETURN STATUS left (LBA mid
// and high: 4F C2 passed, F4 2C threshold exceeded) from the sense data of
// an ATA PASS-THROUGH with CK_COND: descriptor format (the ATA Status
// Return descriptor, code 09) or fixed format. ok is false when the sense
// data holds no such registers.
func parseSATSense(sense []byte) (verdict string, ok bool) {
	if len(sense) < 8 {
		return "", false
	}
	var mid, high byte
	switch sense[0] & 0x7F {
	case 0x72, 0x73: // descriptor format
		n := min(int(sense[7])+8, len(sense))
		for i := 8; i+1 < n; i += int(sense[i+1]) + 2 {
			if sense[i] == 0x09 && sense[i+1] >= 12 && i+13 < n {
				mid, high = sense[i+9], sense[i+11]
				goto found
			}
		}
		return "", false
	case 0x70, 0x71: // fixed format: ASC/ASCQ 00/1D says the registers are there
		if len(sense) < 14 || sense[12] != 0x00 || sense[13] != 0x1D {
			return "", false
		}
		high, mid = sense[9], sense[10]
	default:
		return "", false
	}
found:
	switch {
	case mid == 0x4F && high == 0xC2:
		return SMARTPassed, true
	case mid == 0xF4 && high == 0x2C:
		return SMARTFailing, true
	}
	return "", false
}
