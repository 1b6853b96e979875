package bundle

import (
	"errors"
	"fmt"
)

// Reason says why a bundle is refused.
type Reason string

// The reasons a box refuses a bundle.
const (
	Unsigned     Reason = "unsigned"
	BadSignature Reason = "bad-signature"
	NoKeys       Reason = "no-keys"
	WrongBoard   Reason = "wrong-board"
	OldCounter   Reason = "old-counter"
	Truncated    Reason = "truncated"
	Corrupted    Reason = "corrupted"
	Malformed    Reason = "malformed"
)

// messages are what the page and matthan-flash show: Vietnamese first,
// then English.
var messages = map[Reason][2]string{
	Unsigned:     {"Gói cập nhật không có chữ ký: không cài.", "The update bundle is not signed: not installed."},
	BadSignature: {"Chữ ký của gói cập nhật không hợp lệ (không phải khóa của Mắt Thần): không cài.", "The bundle's signature is not valid (not a Mắt Thần release key): not installed."},
	NoKeys:       {"Hộp không có khóa kiểm tra cập nhật: không cài được gói nào.", "This box carries no update keys: no bundle can be installed."},
	WrongBoard:   {"Gói cập nhật dành cho loại hộp khác: không cài.", "The bundle is for another board: not installed."},
	OldCounter:   {"Gói cập nhật cũ hơn hoặc bằng phiên bản đang chạy: không hạ cấp.", "The bundle is not newer than the running firmware: no downgrade."},
	Truncated:    {"Gói cập nhật bị thiếu (tải về chưa hết): không cài.", "The bundle is truncated (incomplete download): not installed."},
	Corrupted:    {"Gói cập nhật bị hỏng (mã kiểm tra không khớp): không cài.", "The bundle is corrupted (a checksum does not match): not installed."},
	Malformed:    {"Tệp này không phải gói cập nhật Mắt Thần hợp lệ.", "This file is not a valid Mắt Thần update bundle."},
}

// Refusal is why a bundle was refused, with the message for people.
type Refusal struct {
	Reason Reason
	// Detail is for the technician and the audit log (English).
	Detail error
}

// Vietnamese is the refusal as the page shows it first.
func (r *Refusal) Vietnamese() string { return messages[r.Reason][0] }

// English is the refusal's English line.
func (r *Refusal) English() string { return messages[r.Reason][1] }

func (r *Refusal) Error() string {
	s := fmt.Sprintf("%s / %s", r.Vietnamese(), r.English())
	if r.Detail != nil {
		s += " (" + r.Detail.Error() + ")"
	}
	return s
}

func (r *Refusal) Unwrap() error { return r.Detail }

func refuse(reason Reason, detail error) *Refusal { return &Refusal{Reason: reason, Detail: detail} }

// ReasonOf returns the refusal's reason, or "" when err is no refusal.
func ReasonOf(err error) Reason {
	var r *Refusal
	if errors.As(err, &r) {
		return r.Reason
	}
	return ""
}
